"""A small, strict-where-it-matters HL7 v2.x (ER7, "pipe and hat") parser.

What it accepts:

- segments separated by ``\\r`` (the standard), ``\\n`` or ``\\r\\n`` (what files and some engines send);
  empty lines are ignored;
- the delimiters the message declares in MSH-1 and MSH-2 (usually ``|^~\\&``);
- escape sequences in values: ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\`` (the delimiters), ``\\Xhh..\\`` (hex bytes in the
  message's character set), ``\\.br\\`` (a line break); highlighting (``\\H\\ \\N\\``), character-set switches
  (``\\C..\\ \\M..\\``) and locally defined ``\\Z..\\`` escapes are dropped. An unterminated escape is kept
  as written.

Values are addressed the way HL7 documents them: ``PID-3`` is field 3 of PID, ``PID-5.2`` its second
component. For MSH, field 1 is the field separator itself, so MSH-9 is the message type as everywhere else.
Values are unescaped only after the message has been split at its delimiters, so an escaped ``|`` or ``^``
never splits a value.

Nothing here knows about ADT or MedCom; :mod:`mappings.hl7v2.adt_to_notification` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

DEFAULT_CHARSET: Final = "utf-8"
# MSH-18 (character set, HL7 table 0211) -> Python codec
CHARSETS: Final = {
    "": DEFAULT_CHARSET,
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "UTF-8": "utf-8",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
    "CP1252": "cp1252",
    "WINDOWS-1252": "cp1252",
}

_SEGMENT_NAME = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_FIELD_NAME = re.compile(r"^([A-Z][A-Z0-9]{2})-(\d+)(?:\.(\d+))?(?:\.(\d+))?$")
_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")


class Hl7ParseError(ValueError):
    """The text is not an HL7 v2 message; the message names the segment (and field) at fault."""


@dataclass(frozen=True, slots=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as written: component, repetition, escape and subcomponent separators."""
        return f"{self.component}{self.repetition}{self.escape}{self.subcomponent}"


STANDARD_DELIMITERS: Final = Delimiters()


def unescape(text: str, delimiters: Delimiters = STANDARD_DELIMITERS, *, charset: str = DEFAULT_CHARSET) -> str:
    """The value with its HL7 escape sequences resolved (see the module docstring)."""
    esc = delimiters.escape
    if not esc or esc not in text:
        return text
    named = {
        "F": delimiters.field,
        "S": delimiters.component,
        "T": delimiters.subcomponent,
        "R": delimiters.repetition,
        "E": esc,
        ".br": "\n",
        "H": "",
        "N": "",
    }
    out: list[str] = []
    i = 0
    while i < len(text):
        start = text.find(esc, i)
        if start < 0:
            out.append(text[i:])
            break
        out.append(text[i:start])
        end = text.find(esc, start + 1)
        if end < 0:  # unterminated: keep the rest as written
            out.append(text[start:])
            break
        name = text[start + 1 : end]
        if name in named:
            out.append(named[name])
        elif name[:1] == "X" and _HEX.match(name[1:]):
            out.append(bytes.fromhex(name[1:]).decode(charset, errors="replace"))
        elif name[:1] in ("C", "M", "Z") and len(name) > 1:
            pass  # character-set switches and local escapes carry no text
        else:  # not an escape sequence after all: keep the escape character and go on after it
            out.append(esc)
            i = start + 1
            continue
        i = end + 1
    return "".join(out)


def escape(text: str, delimiters: Delimiters = STANDARD_DELIMITERS) -> str:
    """The text with every delimiter escaped, and line breaks as ``\\.br\\``: safe as one HL7 value."""
    esc = delimiters.escape
    replacements = (
        (esc, f"{esc}E{esc}"),
        (delimiters.field, f"{esc}F{esc}"),
        (delimiters.component, f"{esc}S{esc}"),
        (delimiters.subcomponent, f"{esc}T{esc}"),
        (delimiters.repetition, f"{esc}R{esc}"),
    )
    for plain, escaped in replacements:
        text = text.replace(plain, escaped)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", f"{esc}.br{esc}")


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment: ``fields[0]`` is its name; values stay escaped until read."""

    fields: tuple[str, ...]
    delimiters: Delimiters
    charset: str = DEFAULT_CHARSET

    @property
    def name(self) -> str:
        return self.fields[0]

    def raw(self, number: int) -> str:
        """Field `number` as written (escaped, with its components and repetitions); "" when absent."""
        if self.name == "MSH":
            if number == 1:
                return self.delimiters.field
            # fields[1] is MSH-2: the separator that follows "MSH" is MSH-1 itself
            index = number - 1
        else:
            index = number
        return self.fields[index] if 0 < index < len(self.fields) else ""

    def repetitions(self, number: int) -> list[list[list[str]]]:
        """Field `number` as repetitions of components of subcomponents, unescaped; [] when empty."""
        raw = self.raw(number)
        if not raw:
            return []
        if self.name == "MSH" and number in (1, 2):
            return [[[raw]]]
        d = self.delimiters
        return [
            [
                [unescape(sub, d, charset=self.charset) for sub in comp.split(d.subcomponent)]
                for comp in rep.split(d.component)
            ]
            for rep in raw.split(d.repetition)
        ]

    def value(self, number: int, component: int = 1, subcomponent: int = 1, *, repetition: int = 1) -> str:
        """One value, unescaped and stripped of surrounding blanks; "" when absent."""
        reps = self.repetitions(number)
        try:
            return reps[repetition - 1][component - 1][subcomponent - 1].strip()
        except IndexError:
            return ""


@dataclass(frozen=True, slots=True)
class Message:
    segments: tuple[Segment, ...]
    delimiters: Delimiters

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def segment(self, name: str) -> Segment | None:
        """The first segment called `name`, or None."""
        return next((s for s in self.segments if s.name == name), None)

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    def get(self, address: str) -> str:
        """A value by its HL7 address: ``PID-3``, ``PID-5.2``, ``MSH-9.1``, ``PID-3.4.1``; "" when absent."""
        match = _FIELD_NAME.match(address)
        if not match:
            raise ValueError(f"{address!r} is not an HL7 field address like PID-3 or PID-5.2")
        name, fieldno, component, subcomponent = match.groups()
        segment = self.segment(name)
        if segment is None:
            return ""
        return segment.value(int(fieldno), int(component or 1), int(subcomponent or 1))

    @property
    def control_id(self) -> str:
        """MSH-10, the message control id an acknowledgement names."""
        return self.msh.value(10)

    @property
    def message_type(self) -> tuple[str, str]:
        """(MSH-9.1, MSH-9.2): e.g. ("ADT", "A01"); the trigger falls back to EVN-1 (HL7 before 2.3)."""
        trigger = self.msh.value(9, 2) or self.get("EVN-1")
        return self.msh.value(9, 1).upper(), trigger.upper()


def split_segments(text: str) -> list[str]:
    """The segments of a message, whatever line ends it uses; blank lines and surrounding blanks removed."""
    normalised = text.replace("\r\n", "\r").replace("\n", "\r")
    return [line.strip() for line in normalised.split("\r") if line.strip()]


def _delimiters(header: str) -> Delimiters:
    if not header.startswith("MSH") or len(header) < 4:
        raise Hl7ParseError("MSH: the message does not start with an MSH segment")
    field = header[3]
    end = header.find(field, 4)
    encoding = header[4:end] if end >= 0 else header[4:]
    if len(encoding) < 4:  # the four encoding characters of MSH-2
        raise Hl7ParseError(f"MSH-2: the encoding characters {encoding!r} are incomplete; expected e.g. ^~\\&")
    chars = [field, *encoding[:4]]
    if len(set(chars)) != len(chars) or any(c.isalnum() or c.isspace() for c in chars):
        raise Hl7ParseError(f"MSH-1/MSH-2: the delimiters {''.join(chars)!r} must be distinct punctuation")
    return Delimiters(field, encoding[0], encoding[1], encoding[2], encoding[3])


def parse_message(text: str) -> Message:
    """The segments of one HL7 v2 message; raises Hl7ParseError when it is not one."""
    text = text.lstrip("\ufeff")
    lines = split_segments(text)
    if not lines:
        raise Hl7ParseError("MSH: the message is empty")
    delimiters = _delimiters(lines[0])
    charset = charset_of(lines[0], delimiters)
    segments: list[Segment] = []
    for number, line in enumerate(lines, start=1):
        fields = tuple(line.split(delimiters.field))
        name = fields[0]
        if not _SEGMENT_NAME.match(name):
            raise Hl7ParseError(f"segment {number}: {name[:10]!r} is not a segment name (three letters or digits)")
        if name == "MSH" and number > 1:
            raise Hl7ParseError(f"segment {number}: a second MSH; send one message at a time")
        segments.append(Segment(fields, delimiters, charset))
    return Message(tuple(segments), delimiters)


def charset_of(msh: str, delimiters: Delimiters) -> str:
    """The Python codec MSH-18 names (the default, UTF-8, when it names none or one this parser does not know)."""
    fields = msh.split(delimiters.field)
    declared = fields[17].split(delimiters.repetition)[0].strip().upper() if len(fields) > 17 else ""
    return CHARSETS.get(declared, DEFAULT_CHARSET)


def decode_message(raw: bytes) -> str:
    """The text of a message received as bytes, in the character set its MSH-18 declares.

    Without a declaration the bytes are read as UTF-8, and as ISO 8859-1 when they are not UTF-8 (the usual
    charset of Danish HL7 v2 feeds that declare none). A declared charset the bytes do not fit raises
    Hl7ParseError.
    """
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    first = raw.split(b"\r", 1)[0].split(b"\n", 1)[0].decode("ascii", errors="replace")
    declared = ""
    if first.startswith("MSH") and len(first) > 3:
        fields = first.split(first[3])
        declared = fields[17].strip().upper() if len(fields) > 17 else ""
        declared = declared.split("~")[0]
    if declared and declared in CHARSETS:
        codec = CHARSETS[declared]
        try:
            return raw.decode(codec)
        except UnicodeDecodeError as exc:
            raise Hl7ParseError(f"MSH-18: the message is not in the declared character set {declared}: {exc}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
