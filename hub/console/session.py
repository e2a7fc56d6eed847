"""The console's sign-in cookie and the CSRF token of its forms (pure).

The cookie ``hub_console`` holds the token the operator signed in with (a named operator's token, the shared
``HUB_OPERATOR_TOKEN``, or a JWT), HttpOnly, SameSite=Strict, on the path /console only, Secure over HTTPS, for
eight hours; every console request shows it to the authenticator again, so a revoked token stops working at once.
Without operator credentials (development, the console open like the API) it holds a random value instead, which
only the CSRF token is made from.

The CSRF token of a form is HMAC-SHA256 of the cookie's value under a fixed key (:data:`CSRF_KEY`). The secret in
it is the cookie's value, which a page of another site can neither read nor guess; nothing else needs to be shared,
so it holds across several hub processes behind one load balancer, and across restarts, with nothing to configure.
The fixed key only separates these tokens from any other use of the same value.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs

COOKIE = "hub_console"
COOKIE_PATH = "/console"
MAX_AGE_SECONDS = 8 * 3600
CSRF_FIELD = "csrf"
CSRF_KEY = b"sektor-hub console csrf v1"
_OPEN_PREFIX = "open-"


def csrf_token(session: str) -> str:
    """The CSRF token every POST form of a page carries, bound to the session (the cookie's value)."""
    return hmac.new(CSRF_KEY, session.encode(), hashlib.sha256).hexdigest()


def csrf_valid(session: str | None, presented: str | None) -> bool:
    """Whether a POST carries the CSRF token of its session; never without a session or a token."""
    if not session or not presented:
        return False
    return hmac.compare_digest(csrf_token(session).encode(), presented.encode())


def new_open_session() -> str:
    """The cookie's value where the console needs no sign-in: random, only for the CSRF token."""
    return _OPEN_PREFIX + secrets.token_urlsafe(24)


def is_open_session(value: str) -> bool:
    return value.startswith(_OPEN_PREFIX)


@dataclass(frozen=True, slots=True)
class CookieAttributes:
    """What ``Set-Cookie`` says besides name and value."""

    max_age: int
    path: str = COOKIE_PATH
    httponly: bool = True
    samesite: Literal["lax", "strict", "none"] = "strict"
    secure: bool = False


def cookie_attributes(*, https: bool) -> CookieAttributes:
    return CookieAttributes(max_age=MAX_AGE_SECONDS, secure=https)


def parse_form(body: bytes) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body: every field with all its values (checkboxes repeat)."""
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=2000)


def first(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a console path of this site only (never another site's address)."""
    if path and path.startswith(COOKIE_PATH) and not path.startswith("//") and "\\" not in path:
        return path
    return COOKIE_PATH
