"""Security headers on every answer the app sends, errors and 404s included (a `before_send` hook).

The pages load only their own scripts and styles from /static; `style-src 'unsafe-inline'` is for
the level colours set in `style=` attributes. An archived monthly report (`/reports/{month}`) is
one self-contained page with plotly.js and its figures inlined, so it alone may run inline script;
it takes no input and is served only to staff.
"""

from __future__ import annotations

from litestar.types import BeforeMessageSendHookHandler, Message, Scope

_BASE = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_CSP = f"{_BASE}; script-src 'self'"
# plotly.js compiles some of its code at run time (new Function), hence 'unsafe-eval'.
REPORT_CSP = f"{_BASE}; script-src 'self' 'unsafe-inline' 'unsafe-eval'"
HSTS = "max-age=31536000"


def _is_report_page(path: str) -> bool:
    return path.startswith("/reports/") and path.rstrip("/") != "/reports"


def _raw(csp: str, https: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]
    if https:
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


def security_headers(https: bool) -> BeforeMessageSendHookHandler:
    """The hook; `https` (SESSION_COOKIE_SECURE: served over TLS) adds Strict-Transport-Security.
    The header lines are encoded once and appended: this runs on every answer of the hot path."""
    page, report = _raw(PAGE_CSP, https), _raw(REPORT_CSP, https)
    names = {name for name, _ in page}

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        ours = report if _is_report_page(scope.get("path", "")) else page
        headers = [h for h in message.get("headers", ()) if h[0].lower() not in names]
        headers.extend(ours)
        message["headers"] = headers

    return before_send
