"""The minimal login page shown by /authorize.

The authorization request's parameters travel as hidden fields and are validated again
on POST (a hidden field is user input like any other). Every value is HTML-escaped, and
the page refuses to be framed so it cannot be click-jacked. (No CSP form-action: Chrome
applies it to the redirect back to the client, which would break the flow.)
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

# The authorization-request parameters carried from GET to POST.
CARRIED = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in — Hubgraph</title></head>
<body>
<h1>Sign in to {client}</h1>
{error}
<form method="post" action="authorize">
{hidden}
<label>Username <input name="username" value="{username}" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
</body></html>
"""

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def login_page(
    params: dict[str, str], *, error: str | None = None, username: str = "", status: int = 200
) -> HTMLResponse:
    hidden = "\n".join(
        f'<input type="hidden" name="{name}" value="{escape(params[name])}">'
        for name in CARRIED
        if name in params
    )
    html = _PAGE.format(
        client=escape(params.get("client_id", "")),
        error=f'<p role="alert">{escape(error)}</p>' if error else "",
        hidden=hidden,
        username=escape(username),
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)
