"""What FHIR XML needs of the R4 definitions: per type, each element's type and whether it repeats, and the
order in which XML lists the elements (schemas/compiled/r4-core.json.gz and r4-xml-order.json.gz)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import orjson

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
CORE_FILE = Path("compiled") / "r4-core.json.gz"
ORDER_FILE = Path("compiled") / "r4-xml-order.json.gz"
RESOURCE_TYPES = frozenset({"Resource", "DomainResource"})  # an element of this type holds a resource
NUMBER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt", "decimal"})


@dataclass(frozen=True, slots=True)
class Element:
    type: str  # a primitive, a datatype, a backbone element's path (Patient.contact), Resource, or xhtml
    repeats: bool  # max cardinality above 1: always an array in JSON
    position: int  # where XML lists it among its siblings


@dataclass(frozen=True, slots=True)
class Definitions:
    elements: dict[str, dict[str, Element]]  # type -> JSON property name -> element
    primitives: frozenset[str]
    resources: frozenset[str]  # the resource types (Patient, Bundle, ...)

    def element(self, type_name: str | None, name: str) -> Element | None:
        if type_name is None:
            return None
        return self.elements.get(type_name, {}).get(name)

    def holds_resource(self, type_name: str | None) -> bool:
        """An element of this type holds a resource (XML wraps it; JSON names it by resourceType)."""
        return type_name in RESOURCE_TYPES or type_name in self.resources

    def is_primitive(self, type_name: str) -> bool:
        return type_name in self.primitives


def compile_definitions(core: dict[str, object], order: dict[str, list[str]]) -> Definitions:
    """The definitions from the parsed compiled files (pure)."""
    types = core["types"]
    kinds = core["kinds"]
    assert isinstance(types, dict) and isinstance(kinds, dict)
    elements: dict[str, dict[str, Element]] = {}
    for type_name, definition in types.items():
        listed = {name: index for index, name in enumerate(order.get(type_name, ()))}
        own: dict[str, Element] = {}
        for name, element in definition.get("elements", {}).items():
            place = listed.get(element.get("choice") or name, len(listed))
            own[name] = Element(element["type"], bool(element.get("list")), place)
        elements[type_name] = own
    primitives = core["primitives"]
    assert isinstance(primitives, dict)
    resources = frozenset(name for name, kind in kinds.items() if kind == "resource")
    return Definitions(elements, frozenset(primitives), resources)


@cache
def load_definitions(schemas_dir: Path = SCHEMAS_DIR) -> Definitions:
    """The R4 definitions, read once per schemas folder."""
    core = orjson.loads(gzip.decompress((schemas_dir / CORE_FILE).read_bytes()))
    order = orjson.loads(gzip.decompress((schemas_dir / ORDER_FILE).read_bytes()))
    return compile_definitions(core, order)
