"""The console's templates (Jinja2, autoescaped) and the headers every console answer carries."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.console.session import COOKIE_PATH, CSRF_FIELD
from hub.console.views import duration_text, time_text

STATIC_PATH = f"{COOKIE_PATH}/static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
)

_templates = Environment(
    loader=PackageLoader("hub.console", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["time"] = time_text
_templates.filters["duration"] = duration_text
_templates.globals.update(static=STATIC_PATH, console=COOKIE_PATH, csrf_field=CSRF_FIELD)


def render(template: str, **context: Any) -> str:
    return _templates.get_template(template).render(**context)


class ConsoleHeaders:
    """Adds the console's security headers to every answer under /console: a Content-Security-Policy that lets
    the page load only its own script, styles and images (no inline script, no framing), ``nosniff``, and, for
    pages (not the static files), ``Cache-Control: no-store``: a page may show patients."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == COOKIE_PATH or path.startswith(f"{COOKIE_PATH}/")):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                if not path.startswith(f"{STATIC_PATH}/"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)
