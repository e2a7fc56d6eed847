"""Where ../shared is, and its MedCom example messages (a module of the tests package, imported as
tests.medcom_examples; a conftest cannot be imported, since every test folder may have one)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
MEDCOM_EXAMPLES = SHARED / "medcom" / "examples"
MESSAGE_EXAMPLE_FOLDERS = ("hospitalnotification", "carecommunication", "acknowledgement", "messaging")


def medcom_example_messages() -> list[Path]:
    """Every official MedCom example that is a message Bundle."""
    return sorted(p for folder in MESSAGE_EXAMPLE_FOLDERS for p in (MEDCOM_EXAMPLES / folder).glob("*.json"))
