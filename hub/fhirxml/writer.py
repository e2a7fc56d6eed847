"""The FHIR JSON object model -> FHIR XML (R4): what hub.fhirxml.reader reads, written back.

Elements go in the order of their StructureDefinition (schemas/compiled/r4-xml-order.json.gz), an array's items
one element each; a primitive's value in its ``value`` attribute, its ``_name`` part as its ``id`` attribute and
``extension`` children; ``id`` of a datatype and an Extension's ``url`` as attributes; a resource inside another
wrapped in the element that holds it; the narrative's div as the XHTML text the JSON carries (checked to be
well-formed first). Numbers are written with the digits they were read with (hub.fhirxml.jsontext).

What XML cannot carry raises `XmlNotWritable` with the FHIRPath: a property the definitions do not know (FHIR
XML has no place for it), a character XML 1.0 does not allow, a div that is not well-formed XHTML. The hub writes
only messages it validated, so these are faults of the hub or of its definitions, never a sender's.
"""

from __future__ import annotations

import re
from typing import Any, Final

from hub.fhirxml.definitions import Definitions, load_definitions
from hub.fhirxml.jsontext import Number
from hub.fhirxml.reader import FHIR_NS, XmlRefused, read_xml
from hub.validate import paths

DECLARATION: Final = '<?xml version="1.0" encoding="UTF-8"?>'
# what XML 1.0 cannot carry at all (its Char production), and what an attribute value must escape
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
_TO_ESCAPE = re.compile('[&<>"\t\n\r]')


class XmlNotWritable(ValueError):
    """The JSON cannot be written as FHIR XML; `expression` is the FHIRPath of what cannot."""

    def __init__(self, diagnostics: str, expression: str) -> None:
        super().__init__(f"{diagnostics} (at {expression})")
        self.diagnostics = diagnostics
        self.expression = expression


def write_xml(document: dict[str, Any], *, pretty: bool = False, definitions: Definitions | None = None) -> bytes:
    """A FHIR resource in the JSON object model as FHIR XML (UTF-8, with an XML declaration); `pretty`: one
    element a line, indented (for people; the compact form is what the hub sends)."""
    writer = _Writer(definitions or load_definitions(), pretty=pretty)
    resource_type = document.get("resourceType")
    if not isinstance(resource_type, str) or resource_type not in writer.defs.resources:
        raise XmlNotWritable("the document is not a FHIR resource (no known resourceType)", "resourceType")
    writer.out.append(DECLARATION)
    writer.resource(document, resource_type, root=True)
    if pretty:
        writer.out.append("\n")
    return "".join(writer.out).encode("utf-8")


def _attribute(value: str, path: str) -> str:
    if _NOT_XML.search(value):
        raise XmlNotWritable("the value has a character that XML 1.0 cannot carry", path)
    return _TO_ESCAPE.sub(lambda match: _ESCAPES[match.group()], value)


def _text_of(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Number):
        return value.text
    if isinstance(value, str):
        return _attribute(value, path)
    if isinstance(value, int | float):  # a document parsed by another JSON reader
        return repr(value)
    raise XmlNotWritable(f"a primitive value is a JSON {type(value).__name__}", path)


class _Writer:
    def __init__(self, definitions: Definitions, *, pretty: bool = False) -> None:
        self.defs = definitions
        self.out: list[str] = []
        self.pretty = pretty
        self.depth = 0

    def tag(self, text: str, *, step: int = 0) -> None:
        """Append a tag; `step` 1 opens an element, -1 closes one, 0 is a whole element."""
        if step < 0:
            self.depth -= 1
        if self.pretty:
            self.out.append("\n" + "  " * self.depth)
        self.out.append(text)
        if step > 0:
            self.depth += 1

    def resource(
        self, resource: dict[str, Any], resource_type: str, *, path: str | None = None, root: bool = False
    ) -> None:
        where = path or resource_type
        self.tag(f'<{resource_type} xmlns="{FHIR_NS}">' if root else f"<{resource_type}>", step=1)
        self.children(resource, resource_type, where, attributes=())
        self.tag(f"</{resource_type}>", step=-1)

    def children(self, obj: dict[str, Any], type_name: str, path: str, *, attributes: tuple[str, ...]) -> None:
        """The elements of `obj` (a resource or datatype of `type_name`) in definition order."""
        names = []
        for key in obj:
            name = key[1:] if key.startswith("_") else key
            if key == "resourceType" or name in attributes or name in names:
                continue
            element = self.defs.element(type_name, name)
            if element is None:
                raise XmlNotWritable(f"{type_name} has no element {name}", paths.child(path, name))
            names.append(name)
        names.sort(key=lambda n: self.defs.elements[type_name][n].position)
        for name in names:
            element = self.defs.elements[type_name][name]
            self.element(name, element.type, element.repeats, obj.get(name), obj.get(f"_{name}"), path)

    def element(self, name: str, type_name: str, repeats: bool, value: Any, extras: Any, parent: str) -> None:
        where = paths.child(parent, name)
        if self.defs.is_primitive(type_name) and type_name != "xhtml":
            values = value if isinstance(value, list) else [value]
            parts = extras if isinstance(extras, list) else [extras]
            count = max(len(values) if value is not None else 0, len(parts) if extras is not None else 0)
            for index in range(count):
                item = values[index] if value is not None and index < len(values) else None
                part = parts[index] if extras is not None and index < len(parts) else None
                self.primitive(name, item, part, paths.item(where, index) if repeats else where)
            return
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            at = paths.item(where, index) if isinstance(value, list) else where
            if type_name == "xhtml":
                self.tag(_xhtml(item, at))
            elif self.defs.holds_resource(type_name):
                if not isinstance(item, dict) or not isinstance(item.get("resourceType"), str):
                    raise XmlNotWritable("a resource is a JSON object with a resourceType", at)
                if item["resourceType"] not in self.defs.resources:
                    raise XmlNotWritable(f"{item['resourceType']} is not a FHIR resource type", at)
                self.tag(f"<{name}>", step=1)
                self.resource(item, item["resourceType"], path=at)
                self.tag(f"</{name}>", step=-1)
            elif isinstance(item, dict):
                self.complex(name, type_name, item, at)
            else:
                raise XmlNotWritable(f"{type_name} is a JSON object, not a {type(item).__name__}", at)

    def complex(self, name: str, type_name: str, obj: dict[str, Any], path: str) -> None:
        attributes: list[str] = []
        opening = f"<{name}"
        if "id" in obj:
            opening += f' id="{_text_of(obj["id"], paths.child(path, "id"))}"'
            attributes.append("id")
        if type_name == "Extension" and "url" in obj:
            opening += f' url="{_text_of(obj["url"], paths.child(path, "url"))}"'
            attributes.append("url")
        if all(key in attributes for key in obj):
            self.tag(opening + "/>")
            return
        self.tag(opening + ">", step=1)
        self.children(obj, type_name, path, attributes=tuple(attributes))
        self.tag(f"</{name}>", step=-1)

    def primitive(self, name: str, value: Any, extras: Any, path: str) -> None:
        opening = f"<{name}"
        if extras is not None and not isinstance(extras, dict):
            raise XmlNotWritable("a primitive's _ part is a JSON object", path)
        extras = extras or {}
        if "id" in extras:
            opening += f' id="{_text_of(extras["id"], paths.child(path, "id"))}"'
        if value is not None:
            opening += f' value="{_text_of(value, path)}"'
        unknown = [key for key in extras if key not in ("id", "extension")]
        if unknown:
            raise XmlNotWritable(f"a primitive has no element {unknown[0]}", paths.child(path, unknown[0]))
        extensions = extras.get("extension")
        if not extensions:
            self.tag(opening + "/>")
            return
        self.tag(opening + ">", step=1)
        self.element("extension", "Extension", True, extensions, None, path)
        self.tag(f"</{name}>", step=-1)


def _xhtml(value: Any, path: str) -> str:
    """The div's text, once it is known to be well-formed XHTML (else the XML written would not be)."""
    if not isinstance(value, str):
        raise XmlNotWritable("the narrative's div is a string of XHTML", path)
    wrapped = f'<Basic xmlns="{FHIR_NS}"><text>{value}</text></Basic>'
    try:
        _check_xhtml(wrapped.encode("utf-8"))
    except (XmlRefused, UnicodeEncodeError) as exc:
        raise XmlNotWritable(f"the narrative's div is not well-formed XHTML ({exc})", path) from None
    return value


def _check_xhtml(raw: bytes) -> None:
    read_xml(raw, definitions=_XHTML_ONLY)


# for the check of a div alone: Basic.text is the narrative's div, nothing else is known
_XHTML_ONLY = Definitions(
    elements={"Basic": {}},
    primitives=frozenset({"xhtml"}),
    resources=frozenset({"Basic"}),
)
