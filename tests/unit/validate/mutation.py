"""The mutation suite's generator: for each rule of each MedCom profile the hub loads (min > 0, fixed and pattern
values, required and extensible bindings, invariants), an official example where the rule's element exists, broken
for that rule alone, and the FHIRPath where the validator must say so.

The generator reads the rules from the hub's compiled profiles (schemas/compiled/profiles.json.gz, what the hub
enforces is compiled from ../shared) but finds elements on its own: along the rule's element id, slices told by
the extension's url, by type, or by the values the profile fixes inside the slice. Where a profile applies is what
the example says: the profiles in meta.profile (and the profiles they derive from); a data-type profile (an
extension, an identifier) applies where a rule of such a resource profile names it, and to every extension with
its url or identifier with its system.

A fixed or pattern value that decides a slice's membership, when broken, takes the item out of the slice: the
validator may then say so at the sliced element (the slice is missing) instead of at the value; both places are
right. An invariant is broken by the first single edit (a property removed, a value changed: prefixed, reversed) in
its element, its resource or the message that the validator reports with the invariant's key at the element; one
that uses conformsTo() is not (see CONFORMS_TO).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from hub.validate import Validator
from hub.validate.profiles import DOWNGRADED
from tests.medcom_examples import ROOT, medcom_example_messages

COMPILED = ROOT / "schemas" / "compiled" / "profiles.json.gz"
HOMECARE_EXAMPLES = ROOT / "tests" / "data" / "homecareobservation"
MEDCOM = "http://medcomfhir.dk/"
BROKEN_CODE = "no-such-code"
ABSENT = "the element is in no official example where the profile applies"

Json = Any
Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rule:
    profile: str
    id: str  # the element id: Patient.name:official.family
    kind: str  # min | fixed | pattern | binding | extensible | invariant
    spec: dict[str, Any] = field(hash=False, compare=False)  # the compiled element rule
    invariant: tuple[str, ...] = ()  # (key, severity, human, expression)

    @property
    def name(self) -> str:
        what = f"{self.kind} {self.invariant[0]}" if self.invariant else self.kind
        element = self.id.partition(".")[2] or self.id  # the profile's type said once: by the profile
        return f"{self.profile.rsplit('/', 1)[-1]} {element} {what}"

    @property
    def is_url(self) -> bool:
        """The rule fixes an extension's url."""
        return self.id.endswith(".url") and self.id.split(".")[-2].split(":")[0] in ("Extension", "extension")


@dataclass(frozen=True, slots=True)
class Case:
    """An example broken for one rule: the validator must report severity at one of expressions."""

    rule: Rule
    example: str
    message: Message
    edit: str  # what was changed, for a reader of a failure
    expressions: tuple[str, ...]
    severity: str  # error | warning
    key: str | None = None  # an invariant's key, which the issue's diagnostics start with


@dataclass(frozen=True, slots=True)
class Unexercised:
    rule: Rule
    reason: str


@dataclass(slots=True)
class Place:
    """A value in a message: holder[key] (or holder[key][index]) at the FHIRPath path."""

    holder: dict[str, Any]
    key: str
    index: int | None
    path: str

    @property
    def value(self) -> Json:
        found = self.holder[self.key]
        return found if self.index is None else found[self.index]

    def set(self, value: Json) -> None:
        if self.index is None:
            self.holder[self.key] = value
        else:
            self.holder[self.key][self.index] = value


# --- the rules ------------------------------------------------------------------------------------------------


@cache
def compiled() -> dict[str, Any]:
    profiles: dict[str, Any] = orjson.loads(gzip.decompress(COMPILED.read_bytes()))["profiles"]
    return profiles


def medcom_rules() -> list[Rule]:
    """Every rule the suite breaks, in the profiles' order (an older version a profile derives from, url|version,
    with its own)."""
    out: list[Rule] = []
    for url, spec in compiled().items():
        if not url.startswith(MEDCOM):
            continue
        for element in spec["rules"]:
            rid = element["id"]
            if element.get("min", 0) > 0 and "." in rid:
                out.append(Rule(url, rid, "min", element))
            for kind in ("fixed", "pattern", "binding", "extensible"):
                if element.get(kind) is not None:
                    out.append(Rule(url, rid, kind, element))
            for constraint in element.get("constraints", ()):
                out.append(Rule(url, rid, "invariant", element, tuple(constraint)))
    return out


def _rule(profile: str, element_id: str) -> dict[str, Any] | None:
    return next((r for r in compiled()[profile]["rules"] if r["id"] == element_id), None)


@cache
def _ancestors(url: str) -> frozenset[str]:
    """url and every profile it derives from."""
    chain = {url}
    base = compiled().get(url, {}).get("base")
    while isinstance(base, str) and base in compiled() and base not in chain:
        chain.add(base)
        base = compiled()[base].get("base")
    return frozenset(chain)


# --- the examples ---------------------------------------------------------------------------------------------


def example_paths() -> list[Path]:
    return [*medcom_example_messages(), *sorted(HOMECARE_EXAMPLES.glob("*/Bundle-*.json"))]


@cache
def _example_bytes(path: Path) -> bytes:
    return path.read_bytes()


def load(path: Path) -> Message:
    message: Message = orjson.loads(_example_bytes(path))
    return message


def resources(message: Message) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "Bundle", message
    for i, entry in enumerate(message.get("entry", ())):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            yield f"Bundle.entry[{i}].resource", entry["resource"]


def _claims(resource: dict[str, Any], url: str) -> bool:
    """The resource says (meta.profile) it conforms to url or to a profile derived from it."""
    listed = resource.get("meta", {}).get("profile", ())
    return any(url in _ancestors(str(p).split("|")[0]) for p in listed)


def roots(message: Message, url: str) -> list[Place]:
    """Where the profile url applies in the message: resources, or values of a data type profile."""
    spec = compiled()[url]
    kind = spec["type"]
    if not _is_datatype(kind):
        return [_root(where, resource) for where, resource in resources(message) if _claims(resource, url)]
    found: dict[str, Place] = {}
    for other, other_spec in compiled().items():
        if "|" in other or _is_datatype(other_spec["type"]):
            continue
        for element in other_spec["rules"]:
            if any(p.split("|")[0] == url for p in element.get("profiles", ())):
                for root in roots(message, other):
                    for place in locate(other, root, element["id"]):
                        found.setdefault(place.path, place)
    for place in _walk(message, "Bundle"):
        value = place.value
        if not isinstance(value, dict):
            continue
        if kind == "Extension" and value.get("url") == url:
            found.setdefault(place.path, place)
        system = _fixed_system(url)
        if kind == "Identifier" and system is not None and value.get("system") == system:
            found.setdefault(place.path, place)
    return sorted(found.values(), key=lambda p: p.path)


def _is_datatype(kind: str) -> bool:
    return kind in ("Extension", "Identifier", "ContactPoint", "HumanName", "Address", "CodeableConcept", "Coding")


def _fixed_system(url: str) -> str | None:
    rule = _rule(url, "Identifier.system")
    value = None if rule is None else rule.get("fixed", rule.get("pattern"))
    return value if isinstance(value, str) else None


def _root(where: str, resource: dict[str, Any]) -> Place:
    return Place({"": resource}, "", None, where)


def _walk(value: Json, path: str) -> Iterator[Place]:
    """Every value below value (not value itself), as places."""
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(child, list):
                for i, item in enumerate(child):
                    yield Place(value, key, i, f"{path}.{key}[{i}]")
                    yield from _walk(item, f"{path}.{key}[{i}]")
            else:
                yield Place(value, key, None, f"{path}.{key}")
                yield from _walk(child, f"{path}.{key}")


# --- finding an element ---------------------------------------------------------------------------------------


def locate(profile: str, root: Place, element_id: str, base: str | None = None) -> list[Place]:
    """The values of the element element_id (an id of profile) below root, the value of the element base (the
    profile's root when None), slices told apart."""
    steps = element_id.split(".")
    start = 1 if base is None else len(base.split("."))
    places = [root]
    prefix = ".".join(steps[:start])
    for step in steps[start:]:
        prefix = f"{prefix}.{step}"
        name, _, piece = step.partition(":")
        found: list[Place] = []
        for place in places:
            value = place.value
            if not isinstance(value, dict):
                continue
            if name.endswith("[x]"):
                stem = name[:-3]
                keys = [k for k in value if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper()]
                if piece:
                    keys = [k for k in keys if k == piece]
            else:
                keys = [name] if name in value else []
            for key in keys:
                items = value[key]
                if isinstance(items, list):
                    found.extend(Place(value, key, i, f"{place.path}.{key}[{i}]") for i in range(len(items)))
                else:
                    found.append(Place(value, key, None, f"{place.path}.{key}"))
        if piece and not name.endswith("[x]"):
            found = [p for p in found if _member(profile, prefix, p)]
        places = found
    return places


def _member(profile: str, slice_id: str, place: Place) -> bool:
    """The value at place belongs to the slice slice_id: an extension by url; others by type, and by every fixed
    or pattern value the profile sets inside the slice."""
    value = place.value
    spec = _rule(profile, slice_id) or {}
    if slice_id.rsplit(".", 1)[-1].split(":")[0] in ("extension", "modifierExtension"):
        urls = [p.split("|")[0] for p in spec.get("profiles", ())]
        if urls:
            return isinstance(value, dict) and value.get("url") in urls
    base = _rule(profile, slice_id.rsplit(":", 1)[0]) or {}
    for discriminator in base.get("slicing", {}).get("discriminator", ()):
        if discriminator.get("type") in ("value", "pattern"):
            path = str(discriminator.get("path", "")).removeprefix("$this").strip(".")
            wanted = _type_profile_value(profile, slice_id, path) if path else None
            if wanted is not None and not any(_matches(v, wanted) for v in _values(value, path)):
                return False
        if discriminator.get("type") == "type":
            path = str(discriminator.get("path", "$this")).removeprefix("$this").strip(".")
            typed = _rule(profile, f"{slice_id}.{path}[x]" if path else slice_id) or {}
            names = {f"{path}{t[0].upper()}{t[1:]}" for t in typed.get("types", ())}
            if not (isinstance(value, dict) and names and not names.isdisjoint(value)):
                return False
    for rule in compiled()[profile]["rules"]:
        expected = rule.get("fixed", rule.get("pattern"))
        if expected is None or not rule["id"].startswith(slice_id + "."):
            continue
        values = [p.value for p in locate(profile, place, rule["id"], slice_id)]
        matches = _matches if "pattern" in rule else _equal
        if not any(matches(v, expected) for v in values):
            return False
    return True


def _type_profile_value(profile: str, slice_id: str, path: str) -> Json | None:
    """The fixed or pattern value at a discriminator's path that the slice takes from the profile of an element's
    type (``episodeOfCare:lpr3identifier`` by ``identifier.system``: the LPR3 identifier profile's system); None when
    the slice itself fixes it (checked with its other values) or nothing does."""
    steps = path.split(".")
    for n in range(1, len(steps)):
        element = _rule(profile, f"{slice_id}.{'.'.join(steps[:n])}") or {}
        for url in element.get("profiles", ()):
            spec = compiled().get(url.split("|")[0])
            if spec is not None:
                rule = _rule(url.split("|")[0], f"{spec['type']}.{'.'.join(steps[n:])}") or {}
                found = rule.get("fixed", rule.get("pattern"))
                if found is not None:
                    return found
    return None


def _values(value: Json, path: str) -> list[Json]:
    found = [value]
    for step in path.split("."):
        found = [
            item
            for v in found
            if isinstance(v, dict) and step in v
            for item in (v[step] if isinstance(v[step], list) else [v[step]])
        ]
    return found


def _equal(value: Json, expected: Json) -> bool:
    return bool(value == expected)


def _matches(value: Json, pattern: Json) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and _matches(value[k], p) for k, p in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(_matches(v, p) for v in value) for p in pattern)
    return bool(value == pattern)


# --- breaking a rule ------------------------------------------------------------------------------------------


def _changed(value: Json) -> Json:
    """Another value of the same JSON type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return f"x{value}" if value else "x"
    raise TypeError(type(value).__name__)


def _break_to_differ(value: Json, expected: Json, path: str) -> str | None:
    """Change value (a dict or list at path) in place so that it no longer has the fixed or pattern value
    expected: the path of the primitive changed, None when nothing of it could be changed."""
    if isinstance(expected, dict) and isinstance(value, dict):
        for key in sorted(expected, key=lambda k: (k not in ("code", "value", "system"), k)):
            if key not in value:
                continue
            if isinstance(expected[key], dict | list):
                changed = _break_to_differ(value[key], expected[key], f"{path}.{key}")
                if changed is not None:
                    return changed
            else:
                value[key] = _changed(value[key])
                return f"{path}.{key}"
        return None
    if isinstance(expected, list) and isinstance(value, list):
        changed = None
        for wanted in expected:
            for i, item in enumerate(value):
                if _matches(item, wanted):
                    changed = _break_to_differ(item, wanted, f"{path}[{i}]") or changed
        return changed
    return None


def _out_of_valueset(value: Json, path: str) -> tuple[Json, tuple[str, ...]] | None:
    """value with its code(s) out of any value set, and the paths of the codes changed; None when it holds no
    code."""
    if isinstance(value, str):
        return BROKEN_CODE, ()
    if not isinstance(value, dict):
        return None
    broken = orjson.loads(orjson.dumps(value))
    codings = broken.get("coding")
    if isinstance(codings, list) and codings:
        changed = []
        for i, coding in enumerate(codings):
            if isinstance(coding, dict):
                coding["code"] = BROKEN_CODE
                changed.append(f"{path}.coding[{i}].code")
        return broken, tuple(changed)
    if "code" in broken:
        broken["code"] = BROKEN_CODE
        return broken, (f"{path}.code",)
    return None


def _also_at(rule: Rule, place: Place) -> tuple[str, ...]:
    """Where else than at the value a broken fixed or pattern value may be reported: an extension with another
    url is another extension (reported at it, or at its list when a slice then misses it); a value that tells a
    slice's items apart takes the item out of the slice (reported at the sliced element)."""
    if rule.is_url:
        extension = _parent_path(place.path)
        return (extension, extension.rsplit("[", 1)[0]) if extension.endswith("]") else (extension,)
    sliced = _sliced_element(rule, place.path)
    return () if sliced is None else (sliced,)


def _sliced_element(rule: Rule, path: str) -> str | None:
    """The path of the sliced element nearest the rule's element (whose path is path), when it is inside a slice:
    the list an item leaves when it no longer has the slice's values."""
    at = _slice_step(rule)
    if at is None:
        return None
    for _ in range(len(rule.id.split(".")) - 1 - at):
        path = _parent_path(path)
    return path.rsplit("[", 1)[0] if path.endswith("]") else path


def _fixes(spec: dict[str, Any]) -> bool:
    return spec.get("fixed") is not None or spec.get("pattern") is not None


def _slice_step(rule: Rule) -> int | None:
    """The index of the innermost slice step in the rule's element id (not a choice's type slice), if any."""
    steps = rule.id.split(".")
    found = [i for i, s in enumerate(steps) if ":" in s and not s.split(":")[0].endswith("[x]")]
    return found[-1] if found and found[-1] > 0 else None


def _tells_apart(rule: Rule) -> str | None:
    """Why breaking the value (changed, or removed) breaks no rule, when it is what makes the item an item of an
    optional slice (or an identifier profile's system): without it, the item is simply not of that slice, which the
    profile allows; None otherwise."""
    holds_value = rule.kind in ("fixed", "pattern") or (rule.kind == "min" and _fixes(rule.spec))
    if not holds_value or rule.is_url:
        return None
    if rule.id == "Identifier.system" and compiled()[rule.profile]["type"] == "Identifier":
        return "the system is what makes an identifier of this type: another system is another identifier"
    at = _slice_step(rule)
    if at is None:
        return None
    slice_id = ".".join(rule.id.split(".")[: at + 1])
    spec = _rule(rule.profile, slice_id) or {}
    base = _rule(rule.profile, slice_id.rsplit(":", 1)[0]) or {}
    if spec.get("min", 0) == 0 and base.get("slicing", {}).get("rules") != "closed":
        return f"the value tells the optional slice {slice_id} apart: changed, the item is in no slice (open slicing)"
    return None


def _parent_path(path: str) -> str:
    if path.endswith("]"):
        path = path.rsplit("[", 1)[0]
    return path.rsplit(".", 1)[0]


def _severity(rule: Rule) -> str:
    if rule.kind == "extensible":
        return "warning"
    key = rule.invariant[0] if rule.invariant else rule.id
    if (rule.profile.rsplit("/", 1)[-1], key) in DOWNGRADED:
        return "warning"
    if rule.invariant:
        return "error" if rule.invariant[1] == "error" else "warning"
    return "error"


def cases(rule: Rule, validator: Validator) -> Case | Unexercised:
    """The first example where the rule's element is found, broken for that rule alone."""
    if rule.kind == "invariant":
        return _invariant_case(rule, validator)
    why = _tells_apart(rule)
    if why is not None:
        return Unexercised(rule, why)
    valueset = rule.spec.get(rule.kind) if rule.kind in ("binding", "extensible") else None
    if valueset is not None and valueset not in validator.rules.valuesets:
        return Unexercised(rule, f"the value set {valueset} is not expanded: {_unexpanded(valueset)}")
    for path in example_paths():
        message = load(path)
        for root in roots(message, rule.profile):
            made = _removed(rule, root) if rule.kind == "min" else _altered(rule, root)
            if made is None:
                continue
            edit, expressions = made
            return Case(rule, path.name, message, edit, expressions, _severity(rule))
    return Unexercised(rule, ABSENT)


def _removed(rule: Rule, root: Place) -> tuple[str, tuple[str, ...]] | None:
    """The element removed from its first parent: all of it, or the slice's members. A missing element may be
    reported at it or at its parent (where it is missing, as HL7's validator does); a slice's missing items at the
    sliced element; a value whose removal takes an item out of a slice, at the sliced element."""
    parent_id, _, last = rule.id.rpartition(".")
    name, _, piece = last.partition(":")
    for parent in locate(rule.profile, root, parent_id):
        holder = parent.value
        if not isinstance(holder, dict):
            continue
        members = locate(rule.profile, Place({"": holder}, "", None, parent.path), rule.id, parent_id)
        if not members:
            continue
        key = members[0].key
        if piece and not name.endswith("[x]") and isinstance(holder[key], list):
            gone = {m.index for m in members}
            holder[key] = [item for i, item in enumerate(holder[key]) if i not in gone]
            if not holder[key]:
                del holder[key]
            return f"removed the slice {last} at {parent.path}.{key}", (f"{parent.path}.{key}", parent.path)
        for member in members:
            holder.pop(member.key, None)
        spelled = name[:-3] if name.endswith("[x]") else key  # a choice element's FHIRPath name: value
        expressions: tuple[str, ...] = (f"{parent.path}.{spelled}", f"{parent.path}.{key}", parent.path)
        sliced = _sliced_element(rule, f"{parent.path}.{key}")
        if sliced is not None:
            expressions += (sliced,)
        return f"removed {parent.path}.{key}", tuple(dict.fromkeys(expressions))
    return None


def _altered(rule: Rule, root: Place) -> tuple[str, tuple[str, ...]] | None:
    """The element's first value with its fixed or pattern value, or its code, changed."""
    for place in locate(rule.profile, root, rule.id):
        value = place.value
        if rule.kind in ("fixed", "pattern"):
            expected = rule.spec[rule.kind]
            if isinstance(expected, dict | list):
                changed = _break_to_differ(value, expected, place.path)
                if changed is None:
                    continue
                return f"changed {changed}", (place.path, changed, *_also_at(rule, place))
            place.set(_changed(value))
        else:
            out = _out_of_valueset(value, place.path)
            if out is None:
                continue
            place.set(out[0])
            return f"changed {rule.kind} {place.path}", (place.path, *out[1])
        return f"changed {rule.kind} {place.path}", (place.path, *_also_at(rule, place))
    return None


def _unexpanded(valueset: str) -> str:
    """Why the compile left a value set out (tools/compile_schemas.py expands those whose codes ../shared holds)."""
    return UNEXPANDED.get(valueset, "the compile could not expand it")


_TERMINOLOGY = "http://medcomfhir.dk/ig/terminology/ValueSet/"
UNEXPANDED: dict[str, str] = {
    f"{_TERMINOLOGY}medcom-core-encounter-class": (
        "it includes the descendants of _ActEncounterCode in HL7's v3-ActCode, a CodeSystem of HL7's terminology"
        " package (THO), which ../shared does not hold"
    ),
    f"{_TERMINOLOGY}medcom-core-interpreation-valueset": (
        "it includes all of HL7's v3-ObservationInterpretation (THO), which ../shared does not hold"
    ),
    "http://medcomfhir.dk/fhir/dk-medcom-terminology/ValueSet/medcom-core-ecpr-values": (
        "the profile binds it by MedCom's retired canonical (dk-medcom-terminology), under which no value set is"
        " published; terminology 1.4.0 has it as medcom-core-ecpr-values, whose one code is no identifier system"
    ),
}


# --- invariants -----------------------------------------------------------------------------------------------

Edit = tuple[str, Callable[[], None], Callable[[], None]]  # (what, apply, undo)


def _edits(value: Json, path: str) -> Iterator[Edit]:
    """Single edits below value: each property removed, each primitive changed."""
    for place in _walk(value, path):
        holder, key = place.holder, place.key
        if place.index is None:
            saved = dict(holder)

            def remove(holder: dict[str, Any] = holder, key: str = key) -> None:
                del holder[key]

            def restore(holder: dict[str, Any] = holder, saved: dict[str, Any] = saved) -> None:
                holder.clear()
                holder.update(saved)

            yield f"removed {place.path}", remove, restore
        else:
            items = holder[key]

            def drop(items: list[Any] = items, index: int = place.index) -> None:
                items.pop(index)

            def put_back(items: list[Any] = items, index: int = place.index, item: Any = items[place.index]) -> None:
                items.insert(index, item)

            yield f"removed {place.path}", drop, put_back
        current = place.value
        for how, other in _others(current):

            def change(place: Place = place, other: Any = other) -> None:
                place.set(other)

            def unchange(place: Place = place, current: Any = current) -> None:
                place.set(current)

            yield f"changed {place.path} ({how})", change, unchange


def _others(value: Json) -> list[tuple[str, Json]]:
    """Other values of a primitive for an invariant to refuse: changed at the start (which breaks what a regex
    must find at the start), reversed (which breaks a pattern a regex looks for anywhere in it), and, for one with
    digits, letters only (a phone number's digits)."""
    if not isinstance(value, str | bool | int | float):
        return []
    if not isinstance(value, str) or len(value) < 2:
        return [("changed", _changed(value))]
    found = [("changed at the start", _changed(value))]
    if value[::-1] != value:
        found.append(("reversed", value[::-1]))
    if any(c.isdigit() for c in value):
        found.append(("letters only", "x" * len(value)))
    return found


def _invariant_case(rule: Rule, validator: Validator) -> Case | Unexercised:
    key = rule.invariant[0]
    if "conformsTo(" in rule.invariant[3]:
        return Unexercised(rule, CONFORMS_TO)
    severity = _severity(rule)
    reason = ABSENT
    searched = 0  # places whose whole message was searched: three are enough
    for path in example_paths():
        message = load(path)
        for root in roots(message, rule.profile):
            for place in locate(rule.profile, root, rule.id):
                reason = "no single edit of the element, its resource or the message breaks it"
                scopes = [(place.value, place.path), (root.value, root.path)]
                if searched < 3:
                    scopes.append((message, "Bundle"))
                    searched += 1
                seen: set[str] = set()
                for value, where in scopes:
                    for what, apply, undo in _edits(value, where):
                        if what in seen:
                            continue
                        seen.add(what)
                        apply()
                        try:
                            if _reported(validator, message, place.path, key, severity):
                                broken = orjson.loads(orjson.dumps(message))
                                return Case(rule, path.name, broken, what, (place.path,), severity, key)
                        finally:
                            undo()
    return Unexercised(rule, reason)


def _reported(validator: Validator, message: Message, where: str, key: str, severity: str) -> bool:
    verdict = validator.validate(orjson.dumps(message))
    return any(
        i.expression == where and i.diagnostics.startswith(f"{key}:") and i.severity.value == severity
        for i in verdict.issues
    )


CONFORMS_TO = (
    "conformsTo(url) holds by design (hub.validate.rules): the hub applies the profile it names to that resource"
    " itself (the MessageHeader profile of the event code), so a resource that does not conform is refused at"
    " the elements that break the profile, which the suite tests for that profile's rules"
)
