"""Shared test helpers: where ../shared is, and reading its example messages."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
MEDCOM_EXAMPLES = SHARED / "medcom" / "examples"
MESSAGE_EXAMPLE_FOLDERS = ("hospitalnotification", "carecommunication", "acknowledgement", "messaging")


def medcom_example_messages() -> list[Path]:
    """Every official MedCom example that is a message Bundle."""
    return sorted(p for folder in MESSAGE_EXAMPLE_FOLDERS for p in (MEDCOM_EXAMPLES / folder).glob("*.json"))


@pytest.fixture(scope="session")
def example_paths() -> list[Path]:
    paths = medcom_example_messages()
    assert len(paths) >= 25, f"expected the MedCom examples under {MEDCOM_EXAMPLES}"
    return paths
