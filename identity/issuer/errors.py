"""OAuth error responses (RFC 6749 §5.2, RFC 6750 §3, RFC 7009 §2.2.1)."""

from __future__ import annotations

from starlette.responses import JSONResponse

# Token responses and errors must never be cached by intermediaries (RFC 6749 §5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An error the client is told about as ``{"error", "error_description"}``.

    ``error`` is one of the registered codes (invalid_request, invalid_client,
    invalid_grant, unauthorized_client, unsupported_grant_type, invalid_scope,
    invalid_token, ...); clients branch on it, so never invent new ones.
    """

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers={**NO_STORE, **self.headers},
        )


def invalid_client(description: str, *, basic: bool) -> OAuthError:
    # RFC 6749 §5.2: 401, and a WWW-Authenticate challenge when the client tried Basic.
    headers = {"WWW-Authenticate": 'Basic realm="token"'} if basic else {}
    return OAuthError("invalid_client", description, 401, headers)


def invalid_token(description: str) -> OAuthError:
    # RFC 6750 §3: the Bearer challenge carries the error code as well.
    challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return OAuthError("invalid_token", description, 401, {"WWW-Authenticate": challenge})
