"""The demo's banner opens with the operator console's address and how to get in."""

from __future__ import annotations

from hub.simulate.demo import console_lines


def test_the_console_comes_first_and_is_open_without_operator_credentials() -> None:
    assert console_lines("http://127.0.0.1:8000", {}) == [
        "Console: http://127.0.0.1:8000/console   (no sign-in needed: the demo sets no operator token)"
    ]


def test_with_an_operator_token_in_the_environment_the_banner_says_to_sign_in_with_it() -> None:
    (line,) = console_lines("http://127.0.0.1:8000", {"HUB_OPERATOR_TOKEN": "secret"})
    assert line.startswith("Console: http://127.0.0.1:8000/console") and "HUB_OPERATOR_TOKEN" in line
    assert "secret" not in line
