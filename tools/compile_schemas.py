"""Compile the FHIR R4 core definitions and the MedCom packages in ../shared into the hub's rule files.

    .venv/bin/python tools/compile_schemas.py [--shared ../shared] [--out schemas/compiled]

Writes (gzip-compressed JSON, deterministic):
- r4-core.json.gz: every R4 datatype and resource (backbone elements as types of their own, named by their path):
  per JSON property its cardinality, type, required binding and the invariants declared there; the primitive
  regexes; the expanded code lists of the required bindings that can be expanded from local CodeSystems;
  the value types of the core extensions.
- profiles.json.gz: the MedCom profiles (and the hub's own in schemas/sektorhub/) as rule lists: per element
  id (slices included) the tightened cardinality, fixed/pattern values, required and extensible bindings, invariants,
  slicing (with the values at each slice's discriminator paths) and the target profiles of references; the value
  sets of those bindings and of memberOf() in invariants, expanded;
  the event code -> profiles table; the MedCom extension definitions.

The hub reads only these files at run time (hub/validate/rules.py).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
SYSTEM_TYPES = {
    "http://hl7.org/fhirpath/System.String": "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Time": "time",
}
# invariants the walker checks natively (cheaper, and with better messages) or that need what we do not have
NATIVE_CONSTRAINTS = {
    "ele-1": "no empty elements (checked natively)",
    "ext-1": "an extension has a value or extensions, not both (checked natively)",
    "dom-2": "no nested contained resources (checked natively)",
    "dom-3": "contained resources are referenced (needs reference tracing; checked natively as a warning)",
    "dom-4": "no meta.versionId/lastUpdated in contained resources (checked natively)",
    "dom-5": "no meta.security in contained resources (checked natively)",
    "dom-6": "best practice: narrative (a guideline, not checked)",
    "bdl-7": "fullUrl unique (checked natively)",
    "bdl-9": "document identifier (checked natively)",
    "bdl-10": "document timestamp (checked natively)",
    "bdl-11": "document Composition first (checked natively)",
    "bdl-12": "message MessageHeader first (checked natively)",
    "txt-1": "narrative XHTML content rules (only basic checks natively)",
    "txt-2": "narrative has non-whitespace content (checked natively)",
}
MEDCOM_PACKAGES = (
    "medcom.fhir.dk.core-2.0.1",
    "medcom.fhir.dk.core-3.0.1",
    "medcom.fhir.dk.messaging-4.0.2",
    "medcom.fhir.dk.hospitalnotification-3.0.2",
    "medcom.fhir.dk.carecommunication-5.0.2",
    "medcom.fhir.dk.acknowledgement-2.0.3",
)
TERMINOLOGY_PACKAGES = (
    "medcom.fhir.dk.terminology-1.1.1",
    "medcom.fhir.dk.terminology-1.4.0",
    "medcom.fhir.dk.terminology-2.0.1",
)
EVENTS = {
    "empty-message": (
        "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-message",
        "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-messageHeader",
    ),
    "hospital-notification-message": (
        "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalNotification-message",
        "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalNotification-messageHeader",
    ),
    "care-communication-message": (
        "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-message",
        "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-messageHeader",
    ),
    "acknowledgement-message": (
        "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgement",
        "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgementHeader",
    ),
    "homecareobservation-message": (
        "http://medcomfhir.dk/ig/homecareobservation/StructureDefinition/medcom-homecareobservation-message",
        "http://medcomfhir.dk/ig/homecareobservation/StructureDefinition/medcom-homecareobservation-messageheader",
    ),
}
# MedCom IGs whose packages ../shared lacks, translated from MedCom's FSH into differentials under schemas/medcom/<dir>/
# (see schemas/SOURCES.md); their events' focus profile is the one their MessageHeader profile names for focus
TRANSLATED_IGS = {"homecareobservation": ("homecareobservation-message",)}
# dk-core's identifier profiles that MedCom's profiles name (Patient.identifier:cpr, Organization.identifier:SOR-ID),
# translated from dk-core's FSH into differentials under schemas/dkcore/ (see schemas/SOURCES.md); ../shared has
# dk-core as FSH only
TRANSLATED_DKCORE = "dkcore"


def load(path: Path) -> Any:
    return json.loads(path.read_bytes())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- core ---------------------------------------------------------------------------------------------------


def type_code(t: dict[str, Any]) -> str:
    code = t["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in t.get("extension", ()):
            if ext.get("url") == FHIR_TYPE_EXT:
                return str(ext.get("valueUrl") or ext.get("valueUri"))
        return SYSTEM_TYPES.get(code, "string")
    return str(code)


def max_of(value: str | None) -> int:
    return -1 if value in (None, "*") else int(value)  # type: ignore[arg-type]


def constraints_of(el: dict[str, Any], own_sources: set[str]) -> list[list[str]]:
    out = []
    for c in el.get("constraint", ()):
        source = c.get("source")
        if source is not None and source not in own_sources:
            continue
        if c["key"] in NATIVE_CONSTRAINTS or not c.get("expression"):
            continue
        out.append([c["key"], c.get("severity", "error"), c.get("human", ""), c["expression"]])
    return out


def compile_core(shared: Path) -> dict[str, Any]:
    defs = shared / "fhir-r4-definitions"
    sds = [e["resource"] for f in ("profiles-types.json", "profiles-resources.json") for e in load(defs / f)["entry"]]
    sds = [sd for sd in sds if sd.get("resourceType") == "StructureDefinition" and sd.get("derivation") != "constraint"]
    types: dict[str, Any] = {}
    primitives: dict[str, Any] = {}
    bindings: set[str] = set()
    kinds: dict[str, str] = {}
    for sd in sds:
        name = sd["id"] if sd["kind"] != "logical" else None
        if name is None:
            continue
        kinds[name] = sd["kind"]
        url = sd["url"]
        elements = sd["snapshot"]["element"]
        if sd["kind"] == "primitive-type":
            regex = None
            for el in elements:
                if el["path"] == f"{name}.value":
                    for ext in el["type"][0].get("extension", ()):
                        if ext["url"] == REGEX_EXT:
                            regex = ext["valueString"]
            primitives[name] = regex
        node_of: dict[str, dict[str, Any]] = {}
        root = elements[0]
        types[name] = node_of[name] = {
            "kind": sd["kind"],
            "abstract": bool(sd.get("abstract")),
            "base": (sd.get("baseDefinition") or "").rsplit("/", 1)[-1] or None,
            "elements": {},
            "constraints": constraints_of(root, {url}),
        }
        for el in elements[1:]:
            path = el["path"]
            parent, _, last = path.rpartition(".")
            node = node_of.get(parent)
            if node is None:
                continue  # below a choice or a primitive's value
            if sd["kind"] == "primitive-type" and last == "value":
                continue
            spec: dict[str, Any] = {"min": el.get("min", 0), "max": max_of(el.get("max"))}
            if el.get("base", {}).get("max") not in (None, "0", "1"):
                spec["list"] = True
            if el.get("isModifier"):
                spec["modifier"] = True
            cons = constraints_of(el, {url})
            if cons:
                spec["constraints"] = cons
            binding = el.get("binding")
            if binding and binding.get("strength") == "required" and binding.get("valueSet"):
                spec["binding"] = binding["valueSet"].split("|")[0]
                bindings.add(spec["binding"])
            if "contentReference" in el:
                spec["type"] = el["contentReference"].lstrip("#").split("#")[-1]
                node["elements"][last] = spec
                continue
            codes = [type_code(t) for t in el.get("type", ())]
            if len(codes) == 1 and codes[0] in ("BackboneElement", "Element") and last not in ("extension",):
                backbone = path
                spec["type"] = backbone
                types[backbone] = node_of[path] = {
                    "kind": "backbone",
                    "elements": {},
                    "constraints": constraints_of(el, {url}),
                }
                spec.pop("constraints", None)
                node["elements"][last] = spec
                continue
            if last.endswith("[x]"):
                stem = last[:-3]
                choice = {"min": spec["min"], "types": {}}
                for code in codes:
                    key = stem + code[0].upper() + code[1:]
                    one = dict(spec, type=code, choice=stem, min=0)
                    node["elements"][key] = one
                    choice["types"][key] = code
                node.setdefault("choices", {})[stem] = choice
                continue
            spec["type"] = codes[0] if codes else "string"
            if spec["type"] == "Resource" and path in ("Bundle.entry.resource", "Parameters.parameter.resource"):
                spec["type"] = "Resource"
            node["elements"][last] = spec
            if len(codes) > 1:
                spec["types"] = codes
        if sd["kind"] == "resource":
            types[name]["constraints"] = constraints_of(root, {url})
    valuesets = expand_valuesets([load(defs / "valuesets.json")], bindings)
    return {"types": types, "primitives": primitives, "valuesets": valuesets, "kinds": kinds}


def _concepts(concepts: list[dict[str, Any]], out: list[str]) -> None:
    for c in concepts:
        out.append(c["code"])
        _concepts(c.get("concept", []), out)


def _descendants(concepts: list[dict[str, Any]], code: str) -> list[str]:
    for c in concepts:
        if c["code"] == code:
            out = [code]
            _concepts(c.get("concept", []), out)
            return out
        found = _descendants(c.get("concept", []), code)
        if found:
            return found
    return []


def expand_valuesets(bundles: list[Any], wanted: set[str], extra: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    codesystems: dict[str, dict[str, Any]] = {}
    valuesets: dict[str, dict[str, Any]] = {}
    resources = [e["resource"] for b in bundles for e in b.get("entry", ())] + list(extra)
    for r in resources:
        if r.get("resourceType") == "CodeSystem" and r.get("url"):
            codesystems[r["url"]] = r
        elif r.get("resourceType") == "ValueSet" and r.get("url"):
            valuesets[r["url"]] = r

    def expand(url: str, seen: frozenset[str]) -> list[list[str]] | None:
        vs = valuesets.get(url)
        if vs is None or url in seen:
            return None
        pairs: list[list[str]] = []
        for inc in vs.get("compose", {}).get("include", ()):
            for other in inc.get("valueSet", ()):
                sub = expand(other.split("|")[0], seen | {url})
                if sub is None:
                    return None
                pairs.extend(sub)
            system = inc.get("system")
            if system is None:
                continue
            if inc.get("concept"):
                pairs.extend([system, c["code"]] for c in inc["concept"])
                continue
            cs = codesystems.get(system)
            if cs is None or cs.get("content") not in (None, "complete"):
                return None
            if inc.get("filter"):
                codes: list[str] = []
                for f in inc["filter"]:
                    if f.get("op") in ("is-a", "descendent-of") and f.get("property") == "concept":
                        codes.extend(_descendants(cs.get("concept", []), f["value"]))
                    else:
                        return None
            else:
                codes = []
                _concepts(cs.get("concept", []), codes)
            pairs.extend([system, code] for code in codes)
        if vs.get("compose", {}).get("exclude"):
            for exc in vs["compose"]["exclude"]:
                gone = {(exc.get("system"), c["code"]) for c in exc.get("concept", ())}
                pairs = [p for p in pairs if (p[0], p[1]) not in gone]
        return pairs or None

    out: dict[str, Any] = {}
    for url in sorted(wanted):
        pairs = expand(url, frozenset())
        if pairs is not None:
            out[url] = sorted({tuple(p) for p in pairs})  # type: ignore[arg-type]
    return out


# Extensions the hub itself writes that R4's extension-definitions.json does not define: the line and column
# of an OperationOutcome issue in the original text (defined by FHIR's extensions pack, hl7.fhir.uv.extensions,
# and used on R4 by HAPI FHIR's validator), each with an integer value.
EXTENSIONS_PACK = {
    "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line": ["integer"],
    "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col": ["integer"],
}


def compile_extensions(shared: Path) -> dict[str, Any]:
    """url -> allowed value types (empty list: a complex extension without value) for core extensions."""
    out: dict[str, Any] = dict(EXTENSIONS_PACK)
    for e in load(shared / "fhir-r4-definitions" / "extension-definitions.json")["entry"]:
        sd = e["resource"]
        if sd.get("resourceType") != "StructureDefinition":
            continue
        out[sd["url"]] = extension_value_types(sd)
    return out


def extension_value_types(sd: dict[str, Any]) -> list[str] | None:
    for el in sd.get("snapshot", {}).get("element", ()):
        if el.get("id") == "Extension.value[x]":
            if el.get("max") == "0":
                return []
            return [type_code(t) for t in el.get("type", ())]
    return None


# --- profiles -----------------------------------------------------------------------------------------------

KEEP = ("min", "max", "sliceName", "slicing", "binding", "constraint", "type")
# a profile's bindings the hub checks: required ones (errors) and extensible ones (warnings), rule key per strength
BINDING_KEYS = {"required": "binding", "extensible": "extensible"}

# MedCom's Bundle invariants written `entry.ofType(Provenance).all(resource.X)`: an entry is a BundleEntry, never a
# Provenance, so as written each holds on every message (medcom-hospitalNotification-3 would never check the
# activity codes of a hospital notification). What they say is `entry.resource.ofType(Provenance).all(X)`, the
# spelling MedCom's newer profiles use (medcom-homecareobservation-message); the compile writes them so.
ENTRY_OF_TYPE = (re.compile(r"\bentry\.ofType\((\w+)\)\.all\(resource\."), r"entry.resource.ofType(\1).all(")


def constraint_rule(c: dict[str, Any]) -> list[str]:
    """[key, severity, human, expression] of a constraint, its expression as meant (ENTRY_OF_TYPE)."""
    expression = ENTRY_OF_TYPE[0].sub(ENTRY_OF_TYPE[1], c["expression"])
    return [c["key"], c.get("severity", "error"), c.get("human", ""), expression]


def profile_rules(sd: dict[str, Any], chain_ids: set[str], core: dict[str, Any]) -> list[dict[str, Any]]:
    """Rules of a profile: the snapshot elements that its differential (or its ancestors') touched."""
    own = {sd["url"]}
    rules = []
    for el in sd["snapshot"]["element"]:
        eid = el["id"]
        if eid not in chain_ids:
            continue
        rule: dict[str, Any] = {"id": eid}
        if "min" in el:
            rule["min"] = el["min"]
        if "max" in el:
            rule["max"] = max_of(el["max"])
        for key, value in el.items():
            if key.startswith(("fixed", "pattern")):
                rule["fixed" if key.startswith("fixed") else "pattern"] = value
                rule["valueType"] = key[5:] if key.startswith("fixed") else key[7:]
        if el.get("sliceName"):
            rule["sliceName"] = el["sliceName"]
        if "maxLength" in el:
            rule["maxLength"] = el["maxLength"]
        if el.get("slicing"):
            rule["slicing"] = {
                "discriminator": el["slicing"].get("discriminator", []),
                "rules": el["slicing"].get("rules", "open"),
            }
        binding = el.get("binding")
        if binding and binding.get("strength") in BINDING_KEYS and binding.get("valueSet"):
            rule[BINDING_KEYS[binding["strength"]]] = binding["valueSet"].split("|")[0]
        cons = [
            constraint_rule(c)
            for c in el.get("constraint", ())
            if c.get("expression")
            and (c.get("source") in own or c.get("source") is None)
            and not c["key"].startswith(("ele-", "ext-", "dom-"))
        ]
        if cons:
            rule["constraints"] = cons
        types = el.get("type") or []
        profiles = [p for t in types for p in t.get("profile", ())]
        if profiles:
            rule["profiles"] = profiles
        targets = [p for t in types for p in t.get("targetProfile", ()) if not p.startswith("http://hl7.org/fhir/")]
        if targets:
            rule["targetProfiles"] = targets  # the profiles of what a reference names (hub.validate.profiles)
        codes = [type_code(t) for t in types]
        if codes and eid.endswith("[x]"):
            rule["types"] = codes
        rules.append(rule)
    return rules


def discriminated_ids(sd: dict[str, Any], chain_ids: set[str]) -> set[str]:
    """The snapshot elements a slicing's value/pattern discriminators name in each of its slices.

    The profile's differential may name a slice only (``Patient.name:official``) while the value that decides
    membership sits at the discriminator's path in the snapshot, inherited from the base profile (dk-core's
    ``Patient.name:official.use`` fixed to ``official``); the hub matches slices by those values, so each is kept
    with its ancestors up to the slice. Paths that are FHIRPath beyond a dotted element path are skipped.
    """
    elements = sd["snapshot"]["element"]
    ids = {el["id"] for el in elements}
    out: set[str] = set()
    for el in elements:
        slicing = el.get("slicing")
        if el["id"] not in chain_ids or not slicing:
            continue
        paths = [
            d["path"].removeprefix("$this.")
            for d in slicing.get("discriminator", ())
            if d.get("type") in ("value", "pattern")
            and d.get("path", "").replace(".", "").replace("$this", "").isalnum()
        ]
        prefix = el["id"] + ":"  # (its slices: ids in the chain with no "." after the slice name)
        for piece in (e["id"] for e in elements if e["id"].startswith(prefix) and e["id"] in chain_ids):
            if "." in piece[len(prefix) :]:
                continue
            for path in paths:
                steps = path.split(".")
                for n in range(1, len(steps) + 1):
                    candidate = ".".join([piece, *steps[:n]])
                    if candidate in ids:
                        out.add(candidate)
    return out


def differential_rules(sd: dict[str, Any], parent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rules of a differential-only profile: its base profile's rules, each element id replaced or added."""
    own = {sd["url"]}
    by_id = {rule["id"]: dict(rule) for rule in parent}
    for el in sd["differential"]["element"]:
        snapshot_like = dict(el)
        rule = by_id.setdefault(el["id"], {"id": el["id"]})
        if "min" in el:
            rule["min"] = el["min"]
        if "max" in el:
            rule["max"] = max_of(el["max"])
        if "maxLength" in el:
            rule["maxLength"] = el["maxLength"]
        for key, value in snapshot_like.items():
            if key.startswith(("fixed", "pattern")):
                rule.pop("fixed", None)
                rule.pop("pattern", None)
                rule["fixed" if key.startswith("fixed") else "pattern"] = value
                rule["valueType"] = key[5:] if key.startswith("fixed") else key[7:]
        binding = el.get("binding")
        if binding and binding.get("strength") in BINDING_KEYS and binding.get("valueSet"):
            rule[BINDING_KEYS[binding["strength"]]] = binding["valueSet"].split("|")[0]
        cons = [constraint_rule(c) for c in el.get("constraint", ()) if c.get("expression") and c.get("source") in own]
        if cons:
            rule["constraints"] = [*rule.get("constraints", []), *cons]
        profiles = [p for t in el.get("type", ()) for p in t.get("profile", ())]
        if profiles:
            rule["profiles"] = profiles
        targets = [p for t in el.get("type", ()) for p in t.get("targetProfile", ())]
        if targets:
            rule["targetProfiles"] = targets
        codes = [type_code(t) for t in el.get("type", ())]
        if codes and el["id"].endswith("[x]"):
            rule["types"] = codes
    return list(by_id.values())


def with_ancestors(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules and an empty rule for every element (or slice) above one of them that has none.

    A FSH differential names only the elements it changes (``interpretation.coding.code``); the hub walks a
    profile's rules from its root, so each rule needs its parents (``interpretation.coding``, and a slice's base
    element). Applied to the profiles translated from FSH (TRANSLATED_IGS), whose parents' rules come without
    them where those parents' differentials skip a level (``extension:use.value[x].code``).
    """
    known = {rule["id"] for rule in rules}
    out = list(rules)
    for rule in rules:
        parts = rule["id"].split(".")
        for n in range(1, len(parts)):
            last = parts[n - 1]
            for prefix in (".".join([*parts[: n - 1], last.split(":")[0]]), ".".join(parts[:n])):
                if prefix not in known:
                    known.add(prefix)
                    added: dict[str, Any] = {"id": prefix}
                    if ":" in prefix.rsplit(".", 1)[-1]:
                        added["sliceName"] = prefix.rsplit(":", 1)[-1]
                    out.append(added)
    return out


def compile_profiles(shared: Path, core: dict[str, Any], own_dir: Path) -> dict[str, Any]:
    profiles_dir = shared / "medcom" / "profiles"
    sds: dict[str, dict[str, Any]] = {}
    sources: list[str] = []
    for package in MEDCOM_PACKAGES:
        for path in sorted((profiles_dir / package).glob("StructureDefinition-*.json")):
            sd = load(path)
            sds[sd["url"]] = sd  # a later package version wins
            sources.append(f"{package}/{path.name}")
    for path in sorted(own_dir.glob("StructureDefinition-*.json")):
        sd = load(path)
        sds[sd["url"]] = sd
        sources.append(f"schemas/sektorhub/{path.name}")
    translated: set[str] = set()
    for folder in TRANSLATED_IGS:
        for path in sorted((own_dir.parent / "medcom" / folder).glob("StructureDefinition-*.json")):
            sd = load(path)
            # an older version of a profile ../shared has (medcom core 2.4.0 beside 3.0.1): kept as url|version
            other = sds.get(sd["url"])
            key = (
                sd["url"]
                if other is None or other.get("version") == sd.get("version")
                else f"{sd['url']}|{sd['version']}"
            )
            sds[key] = sd
            translated.add(key)
            sources.append(f"schemas/medcom/{folder}/{path.name}")
    for path in sorted((own_dir.parent / TRANSLATED_DKCORE).glob("StructureDefinition-*.json")):
        sd = load(path)
        sds[sd["url"]] = sd
        translated.add(sd["url"])
        sources.append(f"schemas/{TRANSLATED_DKCORE}/{path.name}")

    def chain(sd: dict[str, Any]) -> set[str]:
        ids = {el["id"] for el in sd.get("differential", {}).get("element", ())}
        parent = sds.get(sd.get("baseDefinition", ""))
        return ids | (chain(parent) if parent else set())

    profiles: dict[str, Any] = {}
    extensions: dict[str, Any] = {}
    wanted: set[str] = set()
    for url, sd in sorted(sds.items()):
        if sd.get("type") == "Extension":
            extensions[url] = {
                "valueTypes": extension_value_types(sd),
                "context": [c.get("expression") for c in sd.get("context", ())],
            }
        if "snapshot" not in sd:
            continue
        ids = chain(sd)
        rules = profile_rules(sd, ids | discriminated_ids(sd, ids), core)
        profiles[url] = {
            "type": sd["type"],
            "version": sd.get("version"),
            "base": sd.get("baseDefinition"),
            "rules": rules,
        }
    # the hub's own profiles are differentials only: their rules are the parent's, overridden per element id
    pending = [(key, sd) for key, sd in sds.items() if "snapshot" not in sd and sd.get("type") != "Extension"]
    while pending:
        ready = [
            (k, sd) for k, sd in pending if sd.get("baseDefinition") in profiles or sd["baseDefinition"] not in sds
        ]
        if not ready:
            raise SystemExit(f"cannot resolve the base profiles of {[k for k, _ in pending]}")
        for key, sd in sorted(ready, key=lambda pair: pair[0]):
            pending.remove((key, sd))
            profiles[key] = {
                "type": sd["type"],
                "version": sd.get("version"),
                "base": sd.get("baseDefinition"),
                "rules": differential_rules(sd, profiles.get(sd["baseDefinition"], {}).get("rules", [])),
            }
            if key in translated:
                profiles[key]["rules"] = with_ancestors(profiles[key]["rules"])
    for profile in profiles.values():
        for rule in profile["rules"]:
            wanted.update(rule[key] for key in BINDING_KEYS.values() if key in rule)
    terminology: list[dict[str, Any]] = []
    for package in TERMINOLOGY_PACKAGES:
        for path in sorted((profiles_dir / package).glob("*.json")):
            if path.name.startswith(("CodeSystem-", "ValueSet-")):
                terminology.append(load(path))
                sources.append(f"{package}/{path.name}")
    for path in sorted(own_dir.glob("*.json")):
        if path.name.startswith(("CodeSystem-", "ValueSet-")):
            terminology.append(load(path))
    # the value sets invariants name in memberOf('url'), some by an older canonical of MedCom's terminology
    # (http://medcomfhir.dk/fhir/dk-medcom-terminology/ValueSet/<id>): expanded under the url as written, from the
    # ValueSet of that url, else the one of that id
    members = {
        url
        for profile in profiles.values()
        for rule in profile["rules"]
        for constraint in rule.get("constraints", ())
        for url in re.findall(r"memberOf\('([^']+)'\)", constraint[3])
    }
    by_id = {r["id"]: r["url"] for r in terminology if r.get("resourceType") == "ValueSet"}
    written = {
        url: url if url in {r.get("url") for r in terminology} else by_id.get(url.rsplit("/", 1)[-1], url)
        for url in members
    }
    wanted |= set(written.values())
    core_bundle = load(shared / "fhir-r4-definitions" / "valuesets.json")
    valuesets = expand_valuesets([core_bundle], wanted, terminology)
    for url, actual in sorted(written.items()):
        if actual in valuesets:
            valuesets[url] = valuesets[actual]
    events: dict[str, dict[str, Any]] = {code: {"bundle": b, "header": h} for code, (b, h) in EVENTS.items()}
    for codes in TRANSLATED_IGS.values():
        for code in codes:
            header = profiles[events[code]["header"]]["rules"]
            events[code]["focus"] = [
                t for r in header if r["id"] == "MessageHeader.focus" for t in r.get("targetProfiles", [])
            ]
    own_events: dict[str, list[str]] = {}
    for path in sorted(own_dir.glob("MessageDefinition-*.json")):
        md = load(path)
        code = md["eventCoding"]["code"]
        own_events.setdefault(md["eventCoding"]["system"], []).append(code)
        focus = [f.get("profile") for f in md.get("focus", ()) if f.get("profile")]
        declared = {ext["url"].rsplit("-", 1)[-1]: ext["valueCanonical"] for ext in md.get("extension", ())}
        for key in ("bundleProfile", "headerProfile", *focus):
            url = declared.get(key, key)
            if url not in profiles:
                raise SystemExit(f"{path.name}: the profile {url} is not defined")
        events[code] = {
            "bundle": declared["bundleProfile"],
            "header": declared["headerProfile"],
            "focus": focus,
            "definition": md["url"],
        }
    codesystems = {
        cs["url"]: sorted({c for c in _all_codes(cs)}) for cs in terminology if cs.get("resourceType") == "CodeSystem"
    }
    return {
        "profiles": profiles,
        "extensions": extensions,
        "valuesets": valuesets,
        "events": events,
        "codesystems": codesystems,
        "own_events": {system: sorted(codes) for system, codes in own_events.items()},
        "sources": sources,
    }


def _all_codes(cs: dict[str, Any]) -> list[str]:
    out: list[str] = []
    _concepts(cs.get("concept", []), out)
    return out


def write(path: Path, data: Any) -> int:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=ROOT / "schemas" / "compiled")
    args = parser.parse_args(argv)
    core = compile_core(args.shared)
    core["extensions"] = compile_extensions(args.shared)
    core["native"] = NATIVE_CONSTRAINTS
    core["sources"] = {
        f"fhir-r4-definitions/{name}": sha256(args.shared / "fhir-r4-definitions" / name)
        for name in ("profiles-types.json", "profiles-resources.json", "valuesets.json", "extension-definitions.json")
    }
    size = write(args.out / "r4-core.json.gz", core)
    print(f"r4-core.json.gz: {len(core['types'])} types, {len(core['valuesets'])} value sets, {size} bytes")
    profiles = compile_profiles(args.shared, core, ROOT / "schemas" / "sektorhub")
    size = write(args.out / "profiles.json.gz", profiles)
    print(
        f"profiles.json.gz: {len(profiles['profiles'])} profiles, {len(profiles['valuesets'])} value sets, {size} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
