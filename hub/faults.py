"""What may be said about an unexpected exception: its type and where it was raised, never its text.

An exception's text may quote the message it failed on (a value, a CPR number, a piece of the payload), so
logs, outcomes and tracking events name only the type and the line of the hub's code that raised it.
"""

from __future__ import annotations

import traceback
from pathlib import Path

_HUB_ROOT = Path(__file__).resolve().parent.parent


def fault_kind(exc: BaseException) -> str:
    return type(exc).__name__


def fault_place(exc: BaseException) -> str | None:
    """``path/to/module.py:123 in function`` of the innermost frame, relative to the hub's source tree."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    frame = frames[-1]
    path = Path(frame.filename)
    try:
        shown = str(path.resolve().relative_to(_HUB_ROOT))
    except ValueError:
        shown = path.name
    return f"{shown}:{frame.lineno} in {frame.name}"
