"""FHIR XML -> the FHIR JSON object model, by the rules of FHIR's XML format (R4, 2.6 XML and 2.7 JSON):

- a primitive is an element with a ``value`` attribute; its ``id`` attribute and ``extension`` children become
  the JSON property ``_name`` (in arrays, ``_name`` has a null where an item has neither, and ``name`` a null
  where an item has no value); booleans and numbers become JSON booleans and numbers (a number keeps its digits,
  hub.fhirxml.jsontext), a value that is not one stays a string, for the validator to fault;
- an element whose definition repeats is an array, even with one item (schemas/compiled/ says which);
- ``id`` and an Extension's ``url`` are XML attributes of datatypes, ``id`` of a resource is an element;
- a resource is an element named by its type; one inside another (``contained``, ``Bundle.entry.resource``,
  ``Parameters.parameter.resource``, ...) is wrapped in the element that holds it;
- the narrative's ``div`` is XHTML and becomes the string of its original text, as FHIR JSON carries it.

An element the definitions do not know is converted by its shape (a ``value`` attribute: a string; else an
object; repeated: an array), so that the validator names it as it would in JSON.

Hostile input: the parser is expat, with no DTD (a DOCTYPE is refused, so no entity can be declared, and so no
entity expansion nor external entity), UTF-8 only (FHIR's rule), and at most `max_depth` nested elements. What is
not FHIR XML raises `XmlRefused`, naming the fault, its line and column, and the FHIRPath where it is known.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Final
from xml.parsers import expat

from hub.fhirxml.definitions import NUMBER_TYPES, Definitions, load_definitions
from hub.fhirxml.jsontext import Number
from hub.fhirxml.large_values import THRESHOLD, BadValue, Swaps, lines_and_columns, set_aside
from hub.validate import paths

FHIR_NS: Final = "http://hl7.org/fhir"
XHTML_NS: Final = "http://www.w3.org/1999/xhtml"
DEFAULT_MAX_DEPTH: Final = 100  # as the JSON envelope's (hub.validate.envelope)
_SEP = "\x01"  # between namespace and local name in expat's names (never in a name)
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_BLANK = " \t\r\n"

Position = tuple[int, int]


class XmlRefused(ValueError):
    """The bytes are not FHIR XML that can be read: what is wrong, where (line and column, 1-based, and the
    FHIRPath when known), and the OperationOutcome issue code."""

    def __init__(
        self, diagnostics: str, *, line: int | None, column: int | None, expression: str | None = None, code: str
    ) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(diagnostics + where)
        self.diagnostics = diagnostics
        self.line = line
        self.column = column
        self.expression = expression
        self.code = code


@dataclass(frozen=True, slots=True)
class ReadXml:
    document: dict[str, Any]
    positions: dict[str, Position]  # FHIRPath -> where its element starts, for the paths asked for


@dataclass(slots=True)
class _Frame:
    """An element being read."""

    name: str
    path: str
    mode: str  # resource | holder | complex | primitive | xhtml
    type: str | None  # the FHIR type of the element's content (None: not known)
    fields: dict[str, list[Any]] = field(default_factory=dict)  # JSON name -> items, in order of arrival
    value: Any = None  # a primitive's value
    extras: dict[str, Any] = field(default_factory=dict)  # a primitive's id and extensions
    counts: dict[str, int] = field(default_factory=dict)  # children per name so far (the index of the next)
    resource: dict[str, Any] | None = None  # a holder's resource
    start: int = 0  # xhtml and holder: byte offset of its start tag in the parsed text
    has_content: bool = False  # xhtml: anything inside


class _Primitive:
    """One primitive item on its way into its parent: its value and its ``_name`` part (None: neither)."""

    __slots__ = ("extras", "value")

    def __init__(self, value: Any, extras: dict[str, Any] | None) -> None:
        self.value = value
        self.extras = extras


def read_xml(
    raw: bytes,
    *,
    locate: Collection[str] = (),
    max_depth: int = DEFAULT_MAX_DEPTH,
    definitions: Definitions | None = None,
    large_value_bytes: int = THRESHOLD,
) -> ReadXml:
    """The resource in FHIR XML `raw` as the JSON object model; the positions of the paths in `locate` (and of
    their ancestors) where found. Attribute values of `large_value_bytes` or more are set aside while expat
    parses (hub.fhirxml.large_values). Raises `XmlRefused`."""
    try:
        parsed, swaps = set_aside(raw, threshold=large_value_bytes)
    except BadValue as exc:
        line, column = lines_and_columns(raw, [exc.offset])[exc.offset]
        raise XmlRefused(str(exc), line=line, column=column, code="structure") from None
    return _Reader(parsed, swaps, definitions or load_definitions(), max_depth, _prefixes(locate)).read()


def _prefixes(expressions: Collection[str]) -> frozenset[str]:
    """Every path an expression's element may be found at: itself and each ancestor (cut at `.` and `[`)."""
    found: set[str] = set()
    for expression in expressions:
        path = expression
        while path and path not in found:
            found.add(path)
            path = path[: max(path.rfind("."), path.rfind("["), 0)]
    return frozenset(found)


class _Reader:
    def __init__(
        self, raw: bytes, swaps: Swaps, definitions: Definitions, max_depth: int, wanted: frozenset[str]
    ) -> None:
        self.raw = raw  # what expat parses: the original with its large values set aside (hub.fhirxml.large_values)
        self.swaps = swaps
        self.defs = definitions
        self.max_depth = max_depth
        self.wanted = wanted
        self.offsets: dict[str, int] = {}  # path -> byte offset of its start tag in the original
        self.stack: list[_Frame] = []
        self.depth = 0
        self.xhtml_depth = 0  # elements open inside a div
        self.document: dict[str, Any] | None = None
        parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=_SEP)
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._entity
        parser.ExternalEntityRefHandler = self._external_entity
        parser.XmlDeclHandler = self._declaration
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        parser.buffer_text = False  # text is reported where it starts (and FHIR XML has none outside the div)
        self.parser = parser

    # --- the parse ---------------------------------------------------------------------------------------

    def read(self) -> ReadXml:
        try:
            self.parser.Parse(self.raw, True)
        except expat.ExpatError as exc:
            reason = expat.ErrorString(exc.code) if exc.code is not None else str(exc)
            line, column = self._place(self.parser.ErrorByteIndex)
            raise XmlRefused(
                f"the message is not well-formed XML: {reason}", line=line, column=column, code="structure"
            ) from None
        if self.document is None:
            raise XmlRefused("the XML has no resource", line=1, column=1, code="structure")
        places = lines_and_columns(self.swaps.original, self.offsets.values())
        return ReadXml(self.document, {path: places[offset] for path, offset in self.offsets.items()})

    def _offset(self) -> int:
        """Where the parser is, as a byte offset into the original."""
        return self.swaps.original_offset(max(self.parser.CurrentByteIndex, 0))

    def _place(self, parsed_offset: int) -> Position:
        offset = self.swaps.original_offset(max(parsed_offset, 0))
        return lines_and_columns(self.swaps.original, [offset])[offset]

    def _refused(self, diagnostics: str, *, expression: str | None = None, code: str = "structure") -> XmlRefused:
        line, column = self._place(self.parser.CurrentByteIndex)
        return XmlRefused(diagnostics, line=line, column=column, expression=expression, code=code)

    # --- what FHIR XML does not have -----------------------------------------------------------------------

    def _doctype(self, *_: object) -> None:
        at = self.raw.rfind(b"<!DOCTYPE", 0, max(self.parser.CurrentByteIndex, 0) + 1)
        line, column = self._place(at if at >= 0 else self.parser.CurrentByteIndex)
        raise XmlRefused(
            "the XML has a document type declaration (DOCTYPE); FHIR XML has none, and the hub reads no DTD",
            line=line,
            column=column,
            code="security",
        )

    def _entity(self, *_: object) -> None:
        raise self._refused("the XML declares an entity; FHIR XML has none", code="security")

    def _external_entity(self, *_: object) -> int:
        raise self._refused("the XML refers to an external entity; the hub reads none", code="security")

    def _declaration(self, _version: str, encoding: str | None, _standalone: int) -> None:
        if encoding is not None and encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise self._refused(f"the XML declares the encoding {encoding}; FHIR XML is UTF-8", code="structure")

    # --- elements -------------------------------------------------------------------------------------------

    def _start(self, qualified: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise self._refused(
                f"the XML is nested more than {self.max_depth} elements deep; not processed", code="too-costly"
            )
        if self.xhtml_depth:
            self.xhtml_depth += 1
            self.stack[-1].has_content = True
            return
        namespace, _, name = qualified.rpartition(_SEP)
        parent = self.stack[-1] if self.stack else None
        if parent is None:
            self._start_root(namespace, name, attributes)
            return
        parent.has_content = True
        if parent.mode == "holder":
            self._start_contained(parent, namespace, name, attributes)
            return
        path = self._child_path(parent, name)
        if namespace != FHIR_NS and not (namespace == XHTML_NS and name == "div"):
            raise self._refused(
                f"the element {name} is in the namespace {namespace or '(none)'}, not FHIR's ({FHIR_NS})",
                expression=path,
            )
        self._remember(path)
        if parent.mode == "primitive" and name != "extension":
            raise self._refused(f"a primitive element has no element {name}; only extension", expression=path)
        element = self.defs.element(parent.type, name)
        if parent.mode == "primitive":
            type_name: str | None = "Extension"
        else:
            type_name = element.type if element is not None else None
        if type_name == "xhtml" or (type_name is None and namespace == XHTML_NS):
            if namespace != XHTML_NS:
                raise self._refused(f"the element {name} must be XHTML (namespace {XHTML_NS})", expression=path)
            self.stack.append(_Frame(name, path, "xhtml", "xhtml", start=self.parser.CurrentByteIndex))
            self.xhtml_depth = 1
            return
        if self.defs.holds_resource(type_name):
            self._no_attributes(attributes, path)
            self.stack.append(_Frame(name, path, "holder", type_name, start=self.parser.CurrentByteIndex))
            return
        if type_name is not None and self.defs.is_primitive(type_name):
            mode = "primitive"
        elif type_name is None:
            mode = "primitive" if "value" in attributes else "complex"
        else:
            mode = "complex"
        frame = _Frame(name, path, mode, type_name)
        self._take_attributes(frame, attributes)
        self.stack.append(frame)

    def _start_root(self, namespace: str, name: str, attributes: dict[str, str]) -> None:
        if namespace != FHIR_NS:
            raise self._refused(
                f"the root element {name} is in the namespace {namespace or '(none)'}, not FHIR's ({FHIR_NS})"
            )
        if name not in self.defs.resources:
            raise self._refused(f"the root element {name} is not a FHIR resource type")
        self._remember(name)
        self._no_attributes(attributes, name)
        self.stack.append(_Frame(name, name, "resource", name))

    def _start_contained(self, holder: _Frame, namespace: str, name: str, attributes: dict[str, str]) -> None:
        if holder.resource is not None or holder.counts:
            raise self._refused(f"{holder.path} holds one resource, not several", expression=holder.path)
        if namespace != FHIR_NS or name not in self.defs.resources:
            raise self._refused(
                f"{holder.path} holds a resource; {name} is not a FHIR resource type", expression=holder.path
            )
        self._no_attributes(attributes, holder.path)
        holder.counts[name] = 1
        self.stack.append(_Frame(name, holder.path, "resource", name))

    def _child_path(self, parent: _Frame, name: str) -> str:
        index = parent.counts.get(name, 0)
        parent.counts[name] = index + 1
        element = self.defs.element(parent.type, name) if parent.mode != "primitive" else None
        if parent.mode == "primitive" or (element is not None and element.repeats) or index:
            return paths.item(paths.child(parent.path, name), index)
        return paths.child(parent.path, name)

    def _remember(self, path: str) -> None:
        if not self.wanted:
            return
        if path in self.wanted:
            self.offsets[path] = self._offset()
        # an element given more than once where it should be once is an array in JSON: its first item is [0]
        if not path.endswith("]") and f"{path}[0]" in self.wanted:
            self.offsets[f"{path}[0]"] = self._offset()

    def _no_attributes(self, attributes: dict[str, str], path: str) -> None:
        for attribute in attributes:
            if _SEP not in attribute:  # attributes of other namespaces (xsi:schemaLocation) are not content
                raise self._refused(f"{path} has an attribute {attribute}; a resource has none", expression=path)

    def _take_attributes(self, frame: _Frame, attributes: dict[str, str]) -> None:
        is_extension = frame.type == "Extension" or (
            frame.type is None and frame.name in ("extension", "modifierExtension")
        )
        for attribute, given in attributes.items():
            if _SEP in attribute:
                continue
            try:
                value = self.swaps.value(given)
            except BadValue as exc:
                line, column = lines_and_columns(self.swaps.original, [exc.offset])[exc.offset]
                raise XmlRefused(str(exc), line=line, column=column, expression=frame.path, code="structure") from None
            if attribute == "id":
                if frame.mode == "primitive":
                    frame.extras["id"] = value
                else:
                    frame.fields["id"] = [value]
            elif attribute == "url" and is_extension:
                frame.fields["url"] = [value]
            elif attribute == "value" and frame.mode == "primitive":
                frame.value = _primitive_value(value, frame.type)
            else:
                raise self._refused(
                    f"{frame.path} has an attribute {attribute} that FHIR XML does not define", expression=frame.path
                )

    def _text(self, text: str) -> None:
        if self.xhtml_depth:
            self.stack[-1].has_content = True
            return
        if text.strip(_BLANK):
            where = self.stack[-1].path if self.stack else None
            raise self._refused(
                "the XML has text outside of attributes; FHIR XML carries values in value attributes", expression=where
            )

    def _end(self, _qualified: str) -> None:
        self.depth -= 1
        if self.xhtml_depth > 1:
            self.xhtml_depth -= 1
            return
        frame = self.stack.pop()
        if frame.mode == "xhtml":
            self.xhtml_depth = 0
            value: Any = self._xhtml_text(frame)
        elif frame.mode == "primitive":
            extras = dict(frame.extras)
            if frame.fields.get("extension"):
                extras["extension"] = frame.fields["extension"]
            value = _Primitive(frame.value, extras or None)
        elif frame.mode == "holder":
            if frame.resource is None:
                line, column = self._place(frame.start)
                raise XmlRefused(
                    f"{frame.path} holds no resource", line=line, column=column, expression=frame.path, code="structure"
                )
            value = frame.resource
        else:
            value = self._object(frame)
        if not self.stack:
            self.document = value
            return
        parent = self.stack[-1]
        if parent.mode == "holder":
            parent.resource = value
        else:
            parent.fields.setdefault(frame.name, []).append(value)

    def _xhtml_text(self, frame: _Frame) -> str:
        """The div as the text it was written with (from its start tag to the end of its end tag)."""
        end = self.parser.CurrentByteIndex
        raw = self.raw
        if not frame.has_content and raw[end - 2 : end] == b"/>":  # <div .../>
            text = raw[frame.start : end]
        else:
            close = raw.find(b">", end)
            text = raw[frame.start : close + 1]
        if not text.startswith(b"<div"):
            raise self._refused(f'{frame.path} must be written as <div xmlns="{XHTML_NS}">', expression=frame.path)
        return self.swaps.restore(text).decode("utf-8")

    def _object(self, frame: _Frame) -> dict[str, Any]:
        """A resource or complex element's JSON object from its children."""
        out: dict[str, Any] = {"resourceType": frame.name} if frame.mode == "resource" else {}
        for name, items in frame.fields.items():
            element = self.defs.element(frame.type, name)
            repeats = (
                (element is not None and element.repeats)
                or len(items) > 1
                or (element is None and name in ("extension", "modifierExtension"))
            )
            if items and isinstance(items[0], _Primitive):
                values = [item.value for item in items]
                extras = [item.extras for item in items]
                if repeats:
                    if any(v is not None for v in values):
                        out[name] = values
                    if any(e is not None for e in extras):
                        out[f"_{name}"] = extras
                else:
                    if values[0] is not None:
                        out[name] = values[0]
                    if extras[0] is not None:
                        out[f"_{name}"] = extras[0]
            else:
                out[name] = items if repeats else items[0]
        return out


def _primitive_value(text: str, type_name: str | None) -> Any:
    """A value attribute as FHIR JSON has it: booleans and numbers typed (a number by its text), else a string."""
    if type_name == "boolean":
        if text == "true":
            return True
        if text == "false":
            return False
        return text
    if type_name in NUMBER_TYPES:
        pattern = _DECIMAL if type_name == "decimal" else _INTEGER
        return Number(text) if pattern.fullmatch(text) else text
    return text
