"""Token verification shared by the gateway and every hub, and a development OIDC issuer.

The access model, service accounts and break-glass access live here too
(docs/architecture.md §5; the OIDC contract is docs/iam-profile.md).
"""
