"""The operator web console at /console: server-rendered pages (Jinja2), inline SVG charts made on the server,
a little own JavaScript for the live refresh; no build step, nothing from another site.

``install(app)`` adds it to the hub's app: its routes, its static files, ``GET /`` sending the browser there, the
security headers of its answers, and its refusals as pages."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from hub.console.pages import STATIC_PATH, ConsoleHeaders, render
from hub.console.routes import ConsoleRefusal, SignInNeeded, router
from hub.console.session import COOKIE, COOKIE_PATH

__all__ = ["install", "router"]


async def _to_sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    query = {"next": exc.back_to, **({"why": exc.why} if exc.why else {})}
    response = RedirectResponse(f"{COOKIE_PATH}/login?{urlencode(query)}", status_code=303)
    if exc.why:  # a refused token is forgotten
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


async def _refusal_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleRefusal)
    html = render("error.html", caller=exc.caller, path=request.url.path, title=exc.title, message=exc.message)
    return HTMLResponse(html, status_code=exc.status)


async def _home() -> Response:
    return RedirectResponse(COOKIE_PATH, status_code=307)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=Path(__file__).parent / "static"), name="console-static")
    app.add_api_route("/", _home, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(SignInNeeded, _to_sign_in)
    app.add_exception_handler(ConsoleRefusal, _refusal_page)
    app.add_middleware(ConsoleHeaders)
