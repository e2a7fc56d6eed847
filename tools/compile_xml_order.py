"""Compile the element order of FHIR R4 XML from the core StructureDefinitions in ../shared.

    .venv/bin/python tools/compile_xml_order.py [--shared ../shared] [--out schemas/compiled]

FHIR XML gives a resource's elements in the order its StructureDefinition lists them (the JSON format has no
order); schemas/compiled/r4-core.json.gz keeps each type's elements by name only. This writes
r4-xml-order.json.gz (gzip-compressed JSON, deterministic): per type of r4-core (datatypes, resources and their
backbone elements, named by their path) the names of its elements in definition order, a choice element by its
name without ``[x]`` (``deceased``). The hub reads it at run time in hub/fhirxml/definitions.py.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = ("fhir-r4-definitions/profiles-types.json", "fhir-r4-definitions/profiles-resources.json")


def element_order(definitions: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per type path, its child element names in snapshot order (pure)."""
    order: dict[str, list[str]] = {}
    for sd in definitions:
        if sd.get("kind") == "logical" or sd.get("derivation") == "constraint":
            continue
        for element in sd.get("snapshot", {}).get("element", []):
            path = element["path"]
            parent, _, name = path.rpartition(".")
            if not parent:
                continue
            names = order.setdefault(parent, [])
            name = name.removesuffix("[x]")
            if name not in names:
                names.append(name)
    return dict(sorted(order.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=ROOT / "schemas" / "compiled")
    args = parser.parse_args()
    definitions = [
        entry["resource"]
        for bundle in BUNDLES
        for entry in json.loads((args.shared / bundle).read_text(encoding="utf-8"))["entry"]
        if entry["resource"].get("resourceType") == "StructureDefinition"
    ]
    text = json.dumps(element_order(definitions), sort_keys=True, separators=(",", ":")).encode()
    target = args.out / "r4-xml-order.json.gz"
    target.write_bytes(gzip.compress(text, mtime=0))
    print(f"{target}: {len(text)} bytes")


if __name__ == "__main__":
    main()
