"""Structured logs (JSON lines) with personal data masked: no CPR number ever reaches a log line.

Every string of a structlog entry is masked, also inside lists and dicts and in a formatted exception, and so is
every line of the standard library's logging (the libraries' own: uvicorn, aiokafka, SQLAlchemy), with the one
masking of hub.domain.identifiers that outcomes and the operator API use too.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from hub.domain.identifiers import mask_cpr_everywhere, mask_cpr_in_text


def mask_personal_data(text: str) -> str:
    """The text with every CPR-shaped number masked to its birth date (250947-xxxx)."""
    return mask_cpr_in_text(text)


def _mask(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = mask_cpr_in_text(value)
        elif isinstance(value, dict | list | tuple):
            event_dict[key] = mask_cpr_everywhere(value)
        elif not isinstance(value, int | float | bool) and value is not None:
            # anything else would be rendered by its repr, which may quote what it holds
            event_dict[key] = mask_cpr_in_text(repr(value))
    return event_dict


class MaskingFormatter(logging.Formatter):
    """Another formatter's lines (message, arguments, traceback) with their CPR-shaped numbers masked."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self._inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return mask_cpr_in_text(self._inner.format(record))


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _mask,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        if not isinstance(handler.formatter, MaskingFormatter):
            handler.setFormatter(MaskingFormatter(handler.formatter))
    for noisy in ("aiokafka", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
