"""Token verification shared by the gateway and every hub, and a development OIDC issuer (issue 6)."""
