"""Large attribute values set aside before expat parses, and where a byte of the parsed text was in the original.

expat before 2.6 (this Python has 2.5) scans a token again from its start each time more input arrives, and
Python feeds it 1 MiB at a time: one attribute of 100 MB (a base64 attachment, the common case of a large FHIR
message) costs minutes of CPU. So each attribute value of `THRESHOLD` bytes or more, quoted and without ``<``
or ``&``, is replaced by a short placeholder before parsing and put back after (decoded and whitespace-normalised
as XML normalises attribute values), which keeps the parse linear. A value that contains ``&`` stays (it is
rare, and what expat then costs is bounded by the size limit).

Positions are byte offsets into the parsed text; `Swaps.original_offset` maps one back to the original bytes,
and `lines_and_columns` turns original offsets into 1-based lines and columns (counted in characters), in one
pass however many.
"""

from __future__ import annotations

import bisect
import functools
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

THRESHOLD: Final = 64 * 1024
_NOT_XML = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_WHITESPACE = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


class BadValue(ValueError):
    """A large value that is not well-formed XML text; `offset` is where, in the original bytes."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(slots=True)
class Swaps:
    """The values set aside: placeholder -> (offset, length) of the value in the original bytes."""

    original: bytes
    prefix: str = ""
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    _starts: list[int] = field(default_factory=list)  # where each placeholder ends in the parsed text
    _shifts: list[int] = field(default_factory=list)  # original minus parsed offset after each placeholder

    def value(self, text: str) -> str:
        """An attribute value as expat would have given it: a placeholder's value decoded and normalised (no
        copy of the bytes on the way). Raises BadValue for bytes that are not UTF-8."""
        if not self.spans or not text.startswith(self.prefix):
            return text
        span = self.spans.get(text)
        if span is None:
            return text
        start, length = span
        try:
            value = str(memoryview(self.original)[start : start + length], "utf-8")
        except UnicodeDecodeError as exc:
            raise BadValue("the message is not well-formed XML: it is not UTF-8", start + exc.start) from None
        if any(self.original.find(blank, start, start + length) >= 0 for blank in (b"\t", b"\n", b"\r")):
            value = value.replace("\r\n", " ").translate(_WHITESPACE)
        return value

    def restore(self, parsed: bytes) -> bytes:
        """A slice of the parsed text (a div) with its placeholders replaced by the original bytes."""
        if not self.spans or self.prefix.encode() not in parsed:
            return parsed
        for placeholder, (start, length) in self.spans.items():
            parsed = parsed.replace(placeholder.encode(), self.original[start : start + length])
        return parsed

    def original_offset(self, offset: int) -> int:
        index = bisect.bisect_right(self._starts, offset)
        return offset + (self._shifts[index - 1] if index else 0)


@functools.cache
def _large(threshold: int) -> re.Pattern[bytes]:
    # an attribute's name, then its value (namespace declarations stay: expat must see them)
    return re.compile(
        rb"""([\w:.-]++)[ \t\r\n]*+=[ \t\r\n]*+(?:"([^"<&]{%d,}+)"|'([^'<&]{%d,}+)')""" % (threshold, threshold)
    )


def set_aside(raw: bytes, *, threshold: int = THRESHOLD) -> tuple[bytes, Swaps]:
    """`raw` with its large attribute values replaced, and what was replaced. Raises BadValue (whether a value
    is UTF-8 is checked when it is decoded, `Swaps.value`)."""
    swaps = Swaps(raw)
    pieces: list[bytes] = []
    done = 0
    shift = 0
    for match in _large(threshold).finditer(raw):
        if match.group(1).startswith(b"xmlns"):
            continue
        group = 2 if match.group(2) is not None else 3
        start, end = match.span(group)
        invalid = _NOT_XML.search(raw, start, end)
        if invalid:
            raise BadValue("the message is not well-formed XML: a character XML does not allow", invalid.start())
        if not swaps.prefix:
            swaps.prefix = _prefix(raw)
        placeholder = f"{swaps.prefix}{len(swaps.spans)}"
        swaps.spans[placeholder] = (start, end - start)
        pieces.append(raw[done:start])
        pieces.append(placeholder.encode())
        done = end
        swaps._starts.append(start - shift + len(placeholder))  # the placeholder's end in the parsed text
        shift += (end - start) - len(placeholder)
        swaps._shifts.append(shift)
    if not pieces:
        return raw, swaps
    pieces.append(raw[done:])
    return b"".join(pieces), swaps


def _prefix(raw: bytes) -> str:
    while True:
        prefix = f"hub-large-value-{secrets.token_hex(8)}-"
        if prefix.encode() not in raw:
            return prefix


def lines_and_columns(raw: bytes, offsets: Iterable[int]) -> dict[int, tuple[int, int]]:
    """The 1-based line and column (in characters) of each byte offset of `raw`, in one pass."""
    found: dict[int, tuple[int, int]] = {}
    line, column, at = 1, 1, 0  # the line and column of byte `at`
    for offset in sorted(set(offsets)):
        newlines = raw.count(b"\n", at, offset)
        if newlines:
            line += newlines
            at = raw.rfind(b"\n", at, offset) + 1
            column = 1
        column += len(raw[at:offset].decode("utf-8", "replace"))
        at = offset
        found[offset] = (line, column)
    return found
