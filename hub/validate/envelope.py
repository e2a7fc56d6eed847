"""Layer 1, the envelope: size, encoding (BOM, UTF-8), JSON syntax, nesting depth, no key given twice in an
object, a Bundle object at the top.

A failure here makes every later layer meaningless, so its issues are fatal and validation stops.

Duplicate keys: FHIR JSON forbids them, and they would give one message two readings: the hub's parser keeps
the last value of a key, a receiver's may keep the first, so a sender could name hospital B as the sender for the
receiver and itself for the hub. The check is cheap for the messages without any (see _has_no_duplicate_keys);
only a suspect text gets the exact pass that names each key and its place (positions.duplicate_keys).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from hub.domain.outcome import Issue, Severity
from hub.validate import paths
from hub.validate.positions import duplicate_keys

UTF8_BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_DEPTH = 100  # FHIR resources nest about 10-20 deep; orjson alone would allow 1024
MAX_DUPLICATE_KEYS = 20  # named one issue each; a message with more gets one more issue saying so


@dataclass(frozen=True, slots=True)
class Envelope:
    """The parsed JSON object (None unless the bytes are one) and the envelope's issues."""

    document: dict[str, Any] | None
    issues: tuple[Issue, ...] = ()

    @property
    def ok(self) -> bool:
        """True when later layers may run: a JSON object, within the limits, with resourceType Bundle."""
        return self.document is not None and not any(issue.is_error for issue in self.issues)


def _fatal(code: str, expression: str | None, diagnostics: str) -> Issue:
    return Issue(Severity.FATAL, code, expression, diagnostics)


def read_envelope(
    raw: Any, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH, resource_type: str | None = "Bundle"
) -> Envelope:
    """Check and parse the raw bytes of a message; never raises.

    resource_type: the resourceType the top object must have (a message is a Bundle); None for any resource
    (`hub validate --core` or `--profile`), whose paths then start at its own type (path_root).
    """
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        return Envelope(None, (_fatal("structure", None, f"expected the message as bytes, got {type(raw).__name__}"),))
    if len(raw) > max_bytes:
        return Envelope(
            None,
            (
                _fatal(
                    "too-costly",
                    None,
                    f"the message is {len(raw)} bytes, more than the limit of {max_bytes} bytes",
                ),
            ),
        )
    offset = len(UTF8_BOM) if raw.startswith(UTF8_BOM) else 0
    body = raw[offset:] if offset else raw
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Envelope(None, (_decode_problem(body, offset, exc),))
    if not isinstance(document, dict):
        return Envelope(
            None,
            (
                _fatal(
                    "structure",
                    None,
                    f"the message is a JSON {_json_kind(document)}; expected a JSON object"
                    f" ({'a ' + resource_type if resource_type else 'a resource'})",
                ),
            ),
        )
    root = resource_type or path_root(document)
    depth, colons = _shape(body, max_depth)
    too_deep = None if depth <= max_depth else _too_deep(document, max_depth, root)
    if too_deep is not None:
        return Envelope(
            document,
            (
                _fatal(
                    "too-costly",
                    too_deep,
                    f"the JSON is nested more than {max_depth} levels deep; not processed",
                ),
            ),
        )
    if not _has_no_duplicate_keys(colons, document):
        duplicates = _duplicate_key_issues(raw, root)
        if duplicates:
            return Envelope(document, duplicates)
    if resource_type is None:
        return Envelope(document)  # any resource: the structure layer names an unknown or missing type
    found_type = document.get("resourceType")
    if found_type != resource_type:
        found = f"resourceType {found_type!r}" if "resourceType" in document else "no resourceType"
        return Envelope(
            document,
            (
                _fatal(
                    "structure",
                    resource_type,
                    f"the message has {found}; expected a FHIR {resource_type} (resourceType {resource_type!r})",
                ),
            ),
        )
    return Envelope(document)


def _has_no_duplicate_keys(colons: int, document: dict[str, Any]) -> bool:
    """True when no object of the JSON text that orjson parsed to document has a key twice, given the number of
    colons in that text (from _shape; -1 when it escapes a colon); False when it may have (then the exact pass
    decides).

    Every member of an object has exactly one colon outside strings, and the colons inside strings are those of
    the strings' content. orjson.dumps writes the parsed document back with one member per key kept and every
    string's colons unescaped, so, unless the text escapes a colon, its colons are those of the document written
    back plus one for each member a duplicate key lost (and those of the lost key and value): the two counts are
    equal exactly when no key is given twice. Two scans in C (the dump and its count) besides the one _shape
    makes anyway, and no walk in Python.
    """
    if colons < 0:
        return False
    try:
        written = orjson.dumps(document)
    except orjson.JSONEncodeError:  # not expected of what orjson parsed; the exact pass decides
        return False
    return colons == written.count(b":")


def path_root(document: dict[str, Any]) -> str:
    """The first name of the paths in a resource: its resourceType when that is a plain name, else Resource."""
    resource_type = document.get("resourceType")
    if isinstance(resource_type, str) and _TYPE_NAME.fullmatch(resource_type):
        return resource_type
    return "Resource"


_TYPE_NAME = re.compile(r"[A-Z][A-Za-z0-9]{0,63}")


def _duplicate_key_issues(raw: bytes, root: str = "Bundle") -> tuple[Issue, ...]:
    """One fatal issue per key given again (at most MAX_DUPLICATE_KEYS, then one saying how many more)."""
    found = duplicate_keys(raw, root=root, limit=MAX_DUPLICATE_KEYS + 1)
    issues = [
        Issue(
            Severity.FATAL,
            "structure",
            duplicate.expression,
            f"the key {_shown_key(duplicate.key)} is given more than once in the same JSON object (line"
            f" {duplicate.first[0]} column {duplicate.first[1]}, and again at line {duplicate.position[0]} column"
            f" {duplicate.position[1]}); FHIR JSON forbids duplicate keys: parsers keep different ones, so the"
            " message would not read the same for every receiver",
            line=duplicate.position[0],
            column=duplicate.position[1],
        )
        for duplicate in found[:MAX_DUPLICATE_KEYS]
    ]
    if len(found) > MAX_DUPLICATE_KEYS:
        issues.append(
            _fatal("structure", None, f"more than {MAX_DUPLICATE_KEYS} keys are given more than once; not all named")
        )
    return tuple(issues)


def _shown_key(key: str, limit: int = 64) -> str:
    return repr(key if len(key) <= limit else key[: limit - 3] + "...")


def _decode_problem(body: bytes, offset: int, exc: orjson.JSONDecodeError) -> Issue:
    """The reason orjson refused the bytes: invalid UTF-8 (with the byte offset) or a JSON syntax error."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as bad:
        return _fatal(
            "structure",
            None,
            f"the message is not valid UTF-8: byte offset {bad.start + offset} ({bad.reason})",
        )
    if not body.strip():
        return _fatal("structure", None, "the message is empty; expected a JSON object (a Bundle)")
    return Issue(
        Severity.FATAL,
        "structure",
        None,
        f"the message is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} (character {exc.pos})",
        line=exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None,
        column=exc.colno if isinstance(exc.colno, int) and exc.colno > 0 else None,
    )


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


_LONGEST_EXPRESSION = 300


def _ancestor(path: str, root: str = "Bundle") -> str:
    """The path itself, or when it is very long, its longest ancestor that fits in a readable expression."""
    if len(path) <= _LONGEST_EXPRESSION:
        return path
    cut = max(path.rfind(".", 0, _LONGEST_EXPRESSION), path.rfind("[", 0, _LONGEST_EXPRESSION))
    return path[:cut] if cut > 0 else root


# bytes other than the brackets, the quote and the colon, deleted by translate; [ and ] become { and } (depth only)
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'{}[]":')
_SQUARE_AS_CURLY = bytes.maketrans(b"[]", b"{}")
# an escape; its group is an escaped colon (\u003a or \u003A), a plain colon once parsed: then the text's colons
# are not the document's. Split on, so that one pass over the text both removes the escapes and finds those.
_ESCAPE = re.compile(rb"\\(?:(u003[aA])|.)", re.DOTALL)


def _shape(body: bytes, limit: int) -> tuple[int, int]:
    """The nesting depth of containers in JSON text that orjson accepted, and the number of colons in it (-1 when
    the text escapes a colon), counted without Python per value.

    The depth is at most limit + 1 (it stops counting there). Escapes (a backslash and the character after it,
    taken from the left as JSON does, never a colon; or an escaped colon whole) are removed first, so every
    remaining quote delimits a string; the brackets, quotes and colons alone are kept, the colons are counted and
    dropped, and each adjacent pair of quotes is dropped (an empty string, or the end of one string and the start
    of the next with no bracket between). What quotes remain enclose brackets inside strings, which are cut out.
    Each pass then removes the innermost containers ({} after [ ] became { }), so the number of passes is the
    depth.
    """
    colons = 0
    if b"\\" in body:
        parts = _ESCAPE.split(body)  # text, escaped colon or None, text, ...
        if any(parts[1::2]):
            colons = -1
        body = b"".join(parts[::2])
    structure = body.translate(_SQUARE_AS_CURLY, _NOT_STRUCTURE)
    if colons == 0:
        colons = structure.count(b":")
    brackets = structure.translate(None, b":").replace(b'""', b"")
    if b'"' in brackets:
        brackets = b"".join(brackets.split(b'"')[::2])
    depth = 0
    while brackets and depth <= limit:
        brackets = brackets.replace(b"{}", b"")
        depth += 1
    return depth, colons


def _bracket_depth(body: bytes, limit: int) -> int:
    """The nesting depth of _shape."""
    return _shape(body, limit)[0]


def _too_deep(document: dict[str, Any], max_depth: int, root: str = "Bundle") -> str | None:
    """The FHIRPath of the first container nested deeper than max_depth (the Bundle is depth 1), else None.

    Iterative, so the depth of the input cannot reach Python's recursion limit; the path is only built for
    the rare offender, by a second walk.
    """
    stack: list[tuple[Any, int]] = [(document, 1)]
    deepest = 1
    while stack:
        value, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > max_depth:
                break
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    if deepest <= max_depth:
        return None
    todo: list[tuple[Any, int, str]] = [(document, 1, root)]
    while todo:
        value, depth, path = todo.pop()
        if depth > max_depth:
            return _ancestor(path, root)
        if isinstance(value, dict):
            todo.extend(
                (child, depth + 1, paths.child(path, key))
                for key, child in value.items()
                if isinstance(child, dict | list)
            )
        else:
            todo.extend(
                (child, depth + 1, paths.item(path, i))
                for i, child in enumerate(value)
                if isinstance(child, dict | list)
            )
    return root  # not reached: the first walk found a container this deep
