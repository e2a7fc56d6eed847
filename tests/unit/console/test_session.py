"""The console's session: the CSRF token bound to the cookie's value, the cookie's attributes, form bodies, and
where a sign-in may send the browser."""

from __future__ import annotations

from hub.console.session import (
    COOKIE_PATH,
    cookie_attributes,
    csrf_token,
    csrf_valid,
    is_open_session,
    new_open_session,
    parse_form,
    safe_next,
)


def test_the_csrf_token_belongs_to_one_session() -> None:
    token = csrf_token("operator-token")
    assert csrf_valid("operator-token", token)
    assert csrf_token("operator-token") == token  # the same in every hub process: nothing to share
    assert not csrf_valid("another-token", token)
    assert not csrf_valid("operator-token", token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert "operator-token" not in token


def test_no_session_or_no_token_is_never_valid() -> None:
    assert not csrf_valid(None, csrf_token(""))
    assert not csrf_valid("", csrf_token(""))
    assert not csrf_valid("session", None)
    assert not csrf_valid("session", "")


def test_an_open_consoles_session_is_random_and_recognised() -> None:
    one, other = new_open_session(), new_open_session()
    assert one != other and is_open_session(one) and not is_open_session("operator-token")


def test_the_cookie_is_http_only_strict_for_the_console_and_secure_over_https() -> None:
    plain = cookie_attributes(https=False)
    assert (plain.max_age, plain.path, plain.httponly, plain.samesite, plain.secure) == (
        8 * 3600,
        COOKIE_PATH,
        True,
        "strict",
        False,
    )
    assert cookie_attributes(https=True).secure


def test_a_form_body_keeps_every_value_of_a_repeated_field() -> None:
    assert parse_form(b"id=1&id=3&csrf=abc&receiver=&x=%C3%A6") == {
        "id": ["1", "3"],
        "csrf": ["abc"],
        "receiver": [""],
        "x": ["æ"],
    }
    assert parse_form(b"\xff=1") == {"\ufffd": ["1"]}


def test_a_sign_in_sends_the_browser_only_to_a_console_page() -> None:
    assert safe_next("/console/messages?event=x") == "/console/messages?event=x"
    elsewheres = [None, "", "https://evil.example/console", "//evil.example/console", "/api/messages", "/console\\x"]
    for elsewhere in elsewheres:
        assert safe_next(elsewhere) == COOKIE_PATH
