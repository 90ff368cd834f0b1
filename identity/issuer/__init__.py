"""A small, file-configured OIDC issuer for development, tests and sandboxes.

Production uses an external provider (Keycloak); this issuer mints tokens with the same
claims so nothing downstream can tell the difference.
"""

from identity.issuer.app import create_app
from identity.issuer.config import IssuerConfig, hash_password, load_config

__all__ = ["IssuerConfig", "create_app", "hash_password", "load_config"]
