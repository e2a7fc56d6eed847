"""The compiled rules of schemas/compiled/, loaded once and prepared for the walker.

tools/compile_schemas.py writes the rule files from the FHIR R4 core definitions and the MedCom packages; this
module turns them into Python objects the walker only looks up: per type a dict JSON-property -> ElementRule,
compiled regexes, code sets, and invariants compiled once with fhirpathpy (or a native check); resolve() is a
user function that looks in the Bundle under validation (hub.validate.fhirpath.resolution).
"""

from __future__ import annotations

import gzip
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

COMPILED_DIR = Path("compiled")
CORE_FILE = "r4-core.json.gz"
PROFILES_FILE = "profiles.json.gz"

PRIMITIVE, COMPLEX, RESOURCE = 0, 1, 2
INT32 = (-(2**31), 2**31 - 1)
MAX_STRING = 1024 * 1024  # FHIR: strings SHALL NOT exceed 1 MB


@dataclass(slots=True)
class Invariant:
    key: str
    severity: str
    human: str
    expression: str
    check: Callable[[Any, Any, Any, str], bool] | None  # (node, resource, root, type) -> holds; None: not evaluable


def _no_shortcut(value: Any) -> bool:
    """ElementRule.accept of an element without a quick test (shape OTHER_SHAPE): the walker's full path decides."""
    return False


@dataclass(slots=True)
class ElementRule:
    name: str
    min: int
    max: int  # -1: unbounded
    is_list: bool
    type: str
    kind: int  # PRIMITIVE / COMPLEX / RESOURCE
    choice: str | None = None
    binding: str | None = None
    codes: frozenset[str] | None = None  # code -> member of the required value set
    pairs: frozenset[tuple[str, str]] | None = None  # (system, code) members
    invariants: tuple[Invariant, ...] = ()
    modifier: bool = False
    # prepared for the walker by load_rules (looked up once there, not per element of every message)
    check: Callable[[Any], str | None] | None = None  # a primitive's format check
    target: TypeRule | None = None  # a complex element's type
    text: bool = False  # string or markdown: HTML tags are looked for
    url: bool = False  # uri or url: example URLs may be refused
    # value (or an item of a list) -> true when it needs no issue and nothing more (a valid primitive without HTML,
    # in the value set; set only for elements that are no choice and have no invariants); false sends it through
    # the full path, which also words any problem
    accept: Callable[[Any], Any] = _no_shortcut  # (a truthy or falsy result)
    shape: int = 0  # SINGLE_VALUE (with accept), SINGLE_OBJECT, OBJECTS: a common case the walker takes first


# ElementRule.shape: no shortcut; a single primitive with ElementRule.accept; a list of those; a single element of a
# complex type (not a choice, no binding, no invariants); a list of those (the same)
OTHER_SHAPE, SINGLE_VALUE, VALUES, SINGLE_OBJECT, OBJECTS = range(5)


# TypeRule.special: the checks beyond the definitions that the walker runs on an object of the type
NO_SPECIAL, EXTENSION, BUNDLE, PARAMETERS, NARRATIVE, ATTACHMENT = range(6)
_SPECIAL = {"Extension": EXTENSION, "Bundle": BUNDLE, "Parameters": PARAMETERS, "Narrative": NARRATIVE}


@dataclass(slots=True)
class TypeRule:
    name: str
    kind: str
    elements: dict[str, ElementRule]
    required: tuple[str, ...]  # element names with min >= 1 (not choices)
    choices: dict[str, tuple[int, tuple[str, ...]]]  # stem -> (min, JSON names)
    invariants: tuple[Invariant, ...] = ()
    abstract: bool = False
    # prepared by load_rules
    is_resource: bool = False
    special: int = NO_SPECIAL
    presence: tuple[tuple[str, str, int], ...] = ()  # (name, _name, min) of each required element


@dataclass(slots=True)
class Rules:
    types: dict[str, TypeRule]
    resource_types: frozenset[str]
    primitives: dict[str, Callable[[Any], str | None]]
    extensions: dict[str, tuple[str, ...] | None]  # extension url -> allowed value[x] JSON names
    profiles: dict[str, Any]
    events: dict[str, dict[str, Any]]
    codesystems: dict[str, frozenset[str]]
    valuesets: dict[str, tuple[frozenset[str], frozenset[tuple[str, str]]]]
    uncompiled: list[tuple[str, str, str]] = field(default_factory=list)  # (key, expression, reason)
    compile_seconds: float = 0.0


def _read(path: Path) -> Any:
    return orjson.loads(gzip.decompress(path.read_bytes()))


# --- primitives ---------------------------------------------------------------------------------------------

_DATE_PARTS = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


# The start of the problem a primitive check reports when it failed itself (a bug in the hub, not in the value):
# the validator makes it an `exception` issue at the element (hub.validate.validator).
CHECK_FAILED = "the validator failed on this value"


def check_failed(exc: BaseException) -> str:
    """The problem reported for a value whose check raised: the exception's type only, never the value."""
    return f"{CHECK_FAILED} ({type(exc).__name__}); the message is rejected"


def _lacks_timezone(value: str) -> bool:
    """A date and time (``YYYY-MM-DDThh:mm...``) that ends without ``Z`` or ``+hh:mm``/``-hh:mm``; any other
    shape (``T``, ``2026T``, a bare date) is not a time that merely lacks its zone."""
    date, separator, time = value.partition("T")
    if not separator or len(date) != 10 or len(time) < 5 or value.endswith("Z"):
        return False
    return len(time) < 6 or time[-6] not in "+-"


def _calendar_problem(value: str) -> str | None:
    m = _DATE_PARTS.match(value)
    if m and m.group(3):
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        if not 1 <= month <= 12:  # the patterns allow 01-12 only; kept safe for any caller
            return "the month does not exist"
        if day > _DAYS[month - 1] or (month == 2 and day == 29 and not leap):
            return "the day does not exist in that month"
    return None


_HINTS = {
    "instant": "a date and time with seconds and a timezone, e.g. 2024-05-01T12:00:00+02:00",
    "dateTime": "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a timezone, e.g. 2024-05-01T12:00:00+02:00",
    "date": "YYYY, YYYY-MM or YYYY-MM-DD",
    "time": "hh:mm:ss",
    "id": "1 to 64 of A-Z a-z 0-9 - .",
    "code": "no leading, trailing or double whitespace",
    "uri": "no whitespace",
    "url": "no whitespace",
    "canonical": "no whitespace",
    "oid": "urn:oid:1.2.3...",
    "uuid": "urn:uuid: and a lower-case UUID",
    "base64Binary": "base64 data",
    "positiveInt": "an integer of at least 1",
    "unsignedInt": "an integer of at least 0",
}


def _describe(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"the number {value!r}"[:60]
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, dict):
        return "a JSON object"
    return type(value).__name__


def describe(value: Any) -> str:
    return _describe(value)


def quote(text: str, limit: int = 40) -> str:
    """A text from the message as an issue quotes it: its repr, shortened to limit characters."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_WS = re.compile(r"\s+")


def _primitive_check(name: str, regex: str | None) -> Callable[[Any], str | None]:
    if name == "boolean":

        def check_bool(value: Any) -> str | None:
            return (
                None
                if value is True or value is False
                else f"expected a JSON boolean (true or false), found {_describe(value)}"
            )

        return check_bool
    if name in ("integer", "positiveInt", "unsignedInt"):
        low = {"integer": INT32[0], "positiveInt": 1, "unsignedInt": 0}[name]

        def check_int(value: Any) -> str | None:
            if type(value) is not int:
                if isinstance(value, float) and value.is_integer() and not isinstance(value, bool):
                    pass
                else:
                    return f"expected a JSON integer number, found {_describe(value)}"
            if not low <= value <= INT32[1]:
                return f"{_describe(value)} is not a valid FHIR {name} ({low} to {INT32[1]})"
            return None

        return check_int
    if name == "decimal":

        def check_decimal(value: Any) -> str | None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"expected a JSON number, found {_describe(value)}"
            if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
                return f"{_describe(value)} is not a valid FHIR decimal"
            return None

        return check_decimal
    hint = _HINTS.get(name)
    suffix = f" ({hint})" if hint else ""
    matcher = re.compile(regex).fullmatch if regex and name not in ("string", "markdown", "base64Binary") else None
    calendar = name in ("date", "dateTime", "instant")
    is_text = name in ("string", "markdown")
    is_base64 = name == "base64Binary"
    is_xhtml = name == "xhtml"

    def wording(value: Any) -> str | None:
        if type(value) is not str:
            return f"expected a JSON string, found {_describe(value)}"
        if not value:
            return "an empty string is not allowed; leave the element out"
        if len(value) > MAX_STRING and not is_base64:
            return f"the string is {len(value)} characters long; FHIR allows at most {MAX_STRING}"
        if is_text:
            if value.isspace():
                return "a string of only whitespace is not allowed"
            return None
        if is_base64:
            data = _WS.sub("", value) if not value.isalnum() else value
            if len(data) % 4 or not _BASE64.fullmatch(data):
                return f"{_describe(value)} is not valid FHIR base64Binary{suffix}"
            return None
        if is_xhtml:
            if not value.lstrip().startswith("<div") or "http://www.w3.org/1999/xhtml" not in value[:500]:
                return "the narrative must be an XHTML <div> in the namespace http://www.w3.org/1999/xhtml"
            return None
        if matcher is not None and not matcher(value):
            if name in ("dateTime", "instant") and _lacks_timezone(value):
                return f"{_describe(value)} is not a valid FHIR {name.lower()}: a time needs a timezone{suffix}"
            return f"{_describe(value)} is not a valid FHIR {name.lower()}{suffix}"
        if calendar and (problem := _calendar_problem(value)):
            return f"{_describe(value)} is not a valid FHIR {name.lower()}: {problem}"
        return None

    def full(value: Any) -> str | None:
        try:
            return wording(value)
        except Exception as exc:  # a fault of the check itself: the value is reported, the walk goes on
            return check_failed(exc)

    # Fast acceptance of the common case, each a condition under which `full` returns None; anything else
    # (a fault, or a value the quick test cannot vouch for) goes to `full`, which alone words the problems.
    if is_text:

        def check_text(value: Any) -> str | None:
            if type(value) is str and value and len(value) <= MAX_STRING and not value.isspace():
                return None
            return full(value)

        return check_text
    if regex in _NO_WHITESPACE_PATTERNS and not calendar:
        # printable and no space: no whitespace character at all, so a non-empty value matches the pattern

        def check_token(value: Any) -> str | None:
            if type(value) is str and value and len(value) <= MAX_STRING and " " not in value and value.isprintable():
                return None
            return full(value)

        return check_token
    if matcher is not None and not is_base64:
        fullmatch = matcher

        def check_pattern(value: Any) -> str | None:
            # a calendar value of the pattern has its day at [8:10]; up to 28 it exists in every month
            if (
                type(value) is str
                and value
                and len(value) <= MAX_STRING
                and fullmatch(value)
                and (not calendar or len(value) < 10 or value[8:10] <= "28")
            ):
                return None
            return full(value)

        return check_pattern
    return full


# patterns that every non-empty string without whitespace matches (code; uri, url, canonical)
_NO_WHITESPACE_PATTERNS = frozenset({r"[^\s]+(\s[^\s]+)*", r"\S*"})


# --- invariants ---------------------------------------------------------------------------------------------


def _native_checks() -> dict[str, Callable[[Any, Any, Any, str], bool]]:
    """Invariants checked in Python: frequent ones, where fhirpathpy would cost ~0.1 ms per evaluation."""

    def per_1(node: Any, _r: Any, _root: Any, _t: str) -> bool:
        start, end = node.get("start"), node.get("end")
        if not isinstance(start, str) or not isinstance(end, str):
            return True
        return _instant_key(start) <= _instant_key(end, upper=True)

    def ref_1(node: Any, _resource: Any, root: Any, _t: str) -> bool:
        ref = node.get("reference")
        if not isinstance(ref, str) or not ref.startswith("#"):
            return True
        contained = root.get("contained") if isinstance(root, dict) else None
        if ref == "#":
            return True
        if not isinstance(contained, list):
            return False
        # (an id that is no string cannot match, and an array or object would be unhashable)
        return any(isinstance(c, dict) and c.get("id") == ref[1:] for c in contained)

    def cpt_2(node: Any, _r: Any, _root: Any, _t: str) -> bool:
        return "value" not in node or "system" in node

    def att_1(node: Any, _r: Any, _root: Any, _t: str) -> bool:
        return "data" not in node or "contentType" in node

    def org_1(node: Any, _r: Any, _root: Any, _t: str) -> bool:
        return "identifier" in node or "name" in node

    def bdl_1(node: Any, _r: Any, _root: Any, _t: str) -> bool:
        return "total" not in node or node.get("type") in ("searchset", "history")

    def bdl_2(node: Any, _r: Any, _root: Any, _t: str) -> bool:
        return node.get("type") == "searchset" or not any(
            isinstance(e, dict) and "search" in e for e in _as_list(node.get("entry"))
        )

    def bdl_3(node: Any, _r: Any, _root: Any, _t: str) -> bool:
        return node.get("type") in ("batch", "transaction", "history") or not any(
            isinstance(e, dict) and "request" in e for e in _as_list(node.get("entry"))
        )

    def bdl_4(node: Any, _r: Any, _root: Any, _t: str) -> bool:
        return node.get("type") in ("batch-response", "transaction-response", "history") or not any(
            isinstance(e, dict) and "response" in e for e in _as_list(node.get("entry"))
        )

    def bdl_5(node: Any, _r: Any, _root: Any, _t: str) -> bool:
        return "resource" in node or "request" in node or "response" in node

    def bdl_8(node: Any, _r: Any, _root: Any, _t: str) -> bool:
        full = node.get("fullUrl")
        return not isinstance(full, str) or "/_history/" not in full

    def que_7(node: Any, _r: Any, _root: Any, _t: str) -> bool:
        return node.get("operator") != "exists" or "answerBoolean" in node

    return {
        "que-7": que_7,
        "per-1": per_1,
        "ref-1": ref_1,
        "cpt-2": cpt_2,
        "att-1": att_1,
        "org-1": org_1,
        "bdl-1": bdl_1,
        "bdl-2": bdl_2,
        "bdl-3": bdl_3,
        "bdl-4": bdl_4,
        "bdl-5": bdl_5,
        "bdl-8": bdl_8,
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _instant_key(value: str, upper: bool = False) -> str:
    """A sortable UTC-ish key for a FHIR date/dateTime (precision-aware enough for per-1)."""
    from datetime import datetime, timedelta

    if "T" not in value:
        pad = {4: "-12-31" if upper else "-01-01", 7: "-31" if upper else "-01"}.get(len(value), "")
        return (value + pad) + ("T23:59:59" if upper else "T00:00:00")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        offset = moment.utcoffset() or timedelta()
        try:
            moment = (moment - offset).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00:00+14:00 is before year 1 in UTC (9999-12-31...-14:00 after 9999)
            local = moment.replace(tzinfo=None).isoformat()
            return ("0000" + local[4:]) if offset > timedelta() else ("9999~" + local[4:])
    return moment.isoformat()


class _Fhirpath:
    """fhirpathpy, compiled once per expression; expressions it cannot compile are listed, not evaluated."""

    def __init__(self, rules_holder: list[Rules]) -> None:
        import fhirpathpy
        from fhirpathpy.models import models

        self._compile = fhirpathpy.compile
        self._model = models["r4"]
        self._holder = rules_holder
        self.failed: list[tuple[str, str, str]] = []

    def _valuesets(self) -> dict[str, tuple[frozenset[str], frozenset[tuple[str, str]]]]:
        return self._holder[0].valuesets if self._holder else {}

    def __call__(self, key: str, expression: str) -> Callable[[Any, Any, Any, str], bool] | None:
        from hub.validate.fhirpath import compile_invariant
        from hub.validate.fhirpath.resolution import evaluating, follows_references
        from hub.validate.fhirpath.upstream import make_node

        # the same evaluation as below, compiled to closures (or native for the frequent MedCom invariants)
        functions = _user_functions(self._valuesets)
        fast = compile_invariant(expression, functions, _no_trace)
        if fast is not None:
            return fast
        options = {"userInvocationTable": functions, "traceFn": _no_trace}
        try:
            compiled = self._compile(expression, self._model, options)
        except Exception as exc:  # the parser raises several kinds
            self.failed.append((key, expression, f"{type(exc).__name__}: {str(exc)[:120]}"))
            return None

        def check(node: Any, resource: Any, root: Any, type_path: str) -> bool:
            try:
                start: Any = node if "resourceType" in node else make_node(node, type_path)
                result = compiled(start, {"resource": resource, "rootResource": root})
            except Exception:  # an expression fhirpathpy cannot evaluate on this content: not held against it
                return True
            return not (len(result) == 1 and result[0] is False)

        if not follows_references(expression):
            return check

        def check_resolving(node: Any, resource: Any, root: Any, type_path: str) -> bool:
            # resolve_user (called by fhirpathpy without the ctx) reads %resource and %rootResource from here;
            # held only when the result is the single true (hub.validate.fhirpath.environment.checker)
            try:
                start: Any = node if "resourceType" in node else make_node(node, type_path)
                with evaluating(resource, root):
                    result = compiled(start, {"resource": resource, "rootResource": root})
            except Exception:  # as above
                return True
            return len(result) == 1 and result[0] is True

        return check_resolving


def _member_of(value: Any, valueset: tuple[frozenset[str], frozenset[tuple[str, str]]]) -> bool:
    codes, pairs = valueset
    if type(value) is str:
        return value in codes
    if type(value) is not dict:
        return False
    codings = value.get("coding") if "coding" in value else [value]
    return type(codings) is list and any(type(c) is dict and (c.get("system"), c.get("code")) in pairs for c in codings)


def _no_trace(*_args: Any) -> None:
    return None


ValueSets = dict[str, tuple[frozenset[str], frozenset[tuple[str, str]]]]


def _user_functions(valuesets: Callable[[], ValueSets] = dict) -> dict[str, Any]:
    # conformsTo(url): the hub applies the profile of the event itself; here a resource conforms when its
    # type is the profile's type (the profile's own rules are checked separately).
    def conforms_to(inputs: list[Any], url: Any) -> list[bool]:
        return [True for _ in inputs]

    # memberOf(url): a code, Coding or CodeableConcept in the value set the compile expanded under that url (the
    # url as the invariant writes it, tools/compile_schemas.py); a value set it could not expand holds
    def member_of(inputs: list[Any], url: Any) -> list[bool]:
        found = valuesets().get(url) if type(url) is str else None
        if found is None:
            return [True for _ in inputs]
        return [_member_of(getattr(item, "data", item), found) for item in inputs]

    from hub.validate.fhirpath.resolution import resolve_user

    # resolve(): the resource a reference names in the Bundle under validation (hub.validate.fhirpath.resolution)
    return {
        "conformsTo": {"fn": conforms_to, "arity": {1: ["String"]}},
        "memberOf": {"fn": member_of, "arity": {1: ["String"]}},
        "resolve": {"fn": resolve_user},
    }


# --- loading ------------------------------------------------------------------------------------------------


@cache
def load_rules(schemas_dir: Path) -> Rules:
    """Read and prepare the compiled rule files (once per directory)."""
    started = time.perf_counter()
    core = _read(schemas_dir / COMPILED_DIR / CORE_FILE)
    extra = _read(schemas_dir / COMPILED_DIR / PROFILES_FILE)
    natives = _native_checks()
    holder: list[Rules] = []
    fhirpath = _Fhirpath(holder)
    native_keys = set(core.get("native", {}))
    cache_inv: dict[tuple[str, str], Invariant] = {}

    def invariant(item: list[str]) -> Invariant:
        key, severity, human, expression = item
        found = cache_inv.get((key, expression))
        if found is None:
            check = natives.get(key)
            if check is None and key not in native_keys:
                check = fhirpath(key, expression)
            found = cache_inv[(key, expression)] = Invariant(key, severity, human, expression, check)
        return found

    valuesets: dict[str, tuple[frozenset[str], frozenset[tuple[str, str]]]] = {}
    for url, pairs in {**core["valuesets"], **extra["valuesets"]}.items():
        valuesets[url] = (frozenset(code for _, code in pairs), frozenset((s, c) for s, c in pairs))
    kinds = core["kinds"]
    types: dict[str, TypeRule] = {}
    for name, raw in core["types"].items():
        elements: dict[str, ElementRule] = {}
        for key, spec in raw["elements"].items():
            type_name = spec["type"]
            type_kind = kinds.get(type_name)
            if type_name == "Resource" or type_kind == "resource":
                kind = RESOURCE
            elif type_kind == "primitive-type":
                kind = PRIMITIVE
            else:
                kind = COMPLEX
            if kind == PRIMITIVE and key == "id" and raw["kind"] == "resource":
                type_name = "id"  # Resource.id is an id (the R4 snapshot calls it System.String)
            binding = spec.get("binding")
            vs = valuesets.get(binding) if binding else None
            elements[key] = ElementRule(
                name=key,
                min=spec["min"],
                max=spec["max"],
                is_list=bool(spec.get("list")),
                type=type_name,
                kind=kind,
                choice=spec.get("choice"),
                binding=binding if vs else None,
                codes=vs[0] if vs else None,
                pairs=vs[1] if vs else None,
                invariants=tuple(invariant(c) for c in spec.get("constraints", ())),
                modifier=bool(spec.get("modifier")),
            )
        choices = {stem: (choice["min"], tuple(choice["types"])) for stem, choice in raw.get("choices", {}).items()}
        types[name] = TypeRule(
            name=name,
            kind=raw["kind"],
            elements=elements,
            required=tuple(k for k, e in elements.items() if e.min > 0 and e.choice is None),
            choices=choices,
            invariants=tuple(invariant(c) for c in raw.get("constraints", ())),
            abstract=bool(raw.get("abstract")),
        )
    # the id and extensions of a primitive (`_x`)
    element = types["Element"]
    types["@primitive"] = TypeRule("@primitive", "complex-type", element.elements, (), {})
    primitives = {name: _primitive_check(name, regex) for name, regex in core["primitives"].items()}
    primitives["id"] = _primitive_check("id", core["primitives"]["id"])
    _prepare(types, primitives, {**core["primitives"], "id": core["primitives"]["id"]})
    extensions: dict[str, tuple[str, ...] | None] = {}
    for url, value_types in core["extensions"].items():
        extensions[url] = _value_names(value_types)
    for url, spec in extra["extensions"].items():
        extensions[url] = _value_names(spec.get("valueTypes"))
    resource_types = frozenset(n for n, k in kinds.items() if k == "resource" and not core["types"][n]["abstract"])
    codesystems = {url: frozenset(codes) for url, codes in extra["codesystems"].items()}
    rules = Rules(
        types=types,
        resource_types=resource_types,
        primitives=primitives,
        extensions=extensions,
        profiles=extra["profiles"],
        events=extra["events"],
        codesystems=codesystems,
        valuesets=valuesets,
    )
    holder.append(rules)
    from hub.validate.profiles import prepare_profiles

    rules.profiles = prepare_profiles(rules, extra["profiles"], invariant)
    rules.uncompiled = fhirpath.failed
    rules.compile_seconds = time.perf_counter() - started
    if fhirpath.failed:
        log.debug("fhirpathpy could not compile %d invariants", len(fhirpath.failed))
    return rules


def _prepare(
    types: dict[str, TypeRule],
    primitives: dict[str, Callable[[Any], str | None]],
    regexes: dict[str, str | None],
) -> None:
    """What the walker would otherwise look up per element: checks, child types, special checks, presence."""
    accepts = {name: _accept(name, regex) for name, regex in regexes.items()}
    for type_rule in types.values():
        type_rule.is_resource = type_rule.kind == "resource"
        if type_rule.name == "Attachment":
            type_rule.special = ATTACHMENT
        elif type_rule.name in _SPECIAL and (type_rule.is_resource or type_rule.name in ("Extension", "Narrative")):
            type_rule.special = _SPECIAL[type_rule.name]
        type_rule.presence = tuple((name, "_" + name, type_rule.elements[name].min) for name in type_rule.required)
        for rule in type_rule.elements.values():
            if rule.kind == PRIMITIVE:
                rule.check = primitives[rule.type]
                rule.text = rule.type in ("string", "markdown")
                rule.url = rule.type in ("uri", "url")
                accept = accepts.get(rule.type) if rule.choice is None and not rule.invariants else None
                if accept is not None:
                    rule.accept = accept if rule.codes is None else _in_codes(accept, rule.codes)
                    rule.shape = VALUES if rule.is_list else SINGLE_VALUE
            elif rule.kind == COMPLEX:
                rule.target = types.get(rule.type)
                if rule.target is not None and rule.choice is None and rule.pairs is None and not rule.invariants:
                    rule.shape = OBJECTS if rule.is_list else SINGLE_OBJECT


def _accept(name: str, regex: str | None) -> Callable[[Any], Any] | None:
    """ElementRule.accept for a primitive type: True only where its check (_primitive_check) finds no problem
    and the walker has nothing more to do (a string without "<", where it looks for HTML tags); False leaves the
    value to the check. None: no quick test (the check runs)."""
    if name == "boolean":
        return lambda value: value is True or value is False
    if name in ("integer", "positiveInt", "unsignedInt"):
        low, high = {"integer": INT32[0], "positiveInt": 1, "unsignedInt": 0}[name], INT32[1]
        return lambda value: type(value) is int and low <= value <= high
    if name == "decimal":  # a JSON number (its pattern is for the text of one: a string is a fault)
        return lambda value: type(value) is int or (type(value) is float and math.isfinite(value))
    if name in ("string", "markdown"):
        return lambda value: (
            type(value) is str and value and len(value) <= MAX_STRING and "<" not in value and not value.isspace()
        )
    if regex in _NO_WHITESPACE_PATTERNS and name not in ("date", "dateTime", "instant"):
        # printable and no space: no whitespace character at all, so a non-empty value matches the pattern
        return lambda value: (
            type(value) is str and value and len(value) <= MAX_STRING and " " not in value and value.isprintable()
        )
    if regex and name not in ("base64Binary", "xhtml"):
        fullmatch = re.compile(regex).fullmatch
        if name in ("date", "dateTime", "instant"):
            # the day is at [8:10]; up to 28 it exists in every month
            return lambda value: (
                type(value) is str
                and value
                and len(value) <= MAX_STRING
                and fullmatch(value) is not None
                and (len(value) < 10 or value[8:10] <= "28")
            )
        return lambda value: type(value) is str and value and len(value) <= MAX_STRING and fullmatch(value) is not None
    return None


def _in_codes(accept: Callable[[Any], Any], codes: frozenset[str]) -> Callable[[Any], Any]:
    return lambda value: accept(value) and value in codes


def _value_names(value_types: list[str] | None) -> tuple[str, ...] | None:
    if value_types is None:
        return None
    return tuple("value" + t[0].upper() + t[1:] for t in value_types)
