"""Layer 2, FHIR R4 structure: the fhir.resources models plus a JSON walk for what the models let through.

fhir.resources has no plain R4 package; its R4B (4.3) models read MedCom's R4 (4.0.1) messages: every
official MedCom example passes them unchanged. What differs between R4 and R4B is handled here:
- resource types that exist only in R4 (the MedicinalProduct* family, Substance*, Effect/Risk
  EvidenceSynthesis) have no R4B model, and R4B redesigned Evidence and EvidenceVariable: the structure of
  these is not checked, and a warning says so;
- resource types that exist only in R4B (Citation, Ingredient, SubscriptionTopic, ...) are not R4: an error.
Of the 698 official R4 examples (hl7.fhir.r4.examples 4.0.1) only Questionnaire-qs1 fails this layer,
and rightly: its items lack the required linkId.

The models are lenient about JSON types in ways FHIR JSON is not (they accept "true" for a boolean, "3" for
an integer, the number 5 for an instant) and accept `null`, empty arrays and objects and their own Python
field names (`timestamp__ext`, `fhir_comments`). One iterative walk over the JSON, guided by the models'
field table, reports those. The models check the rest: unknown elements, required elements, choice types,
value formats. Each entry's resource is validated with its own model class, so one resource that makes the
library raise does not hide the issues of the others.
"""

from __future__ import annotations

import decimal
import re
import types
import typing
from collections import deque
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.fhirprimitiveextension import FHIRPrimitiveExtension
from fhir.resources.R4B.resource import Resource
from pydantic import BaseModel, ValidationError

from hub.domain.outcome import Issue, Severity, error
from hub.validate import paths

# R4 (4.0.1) resource types that R4B dropped: valid in an R4 message, but no model checks them.
R4_ONLY_RESOURCE_TYPES: typing.Final = frozenset(
    {
        "EffectEvidenceSynthesis",
        "MedicinalProduct",
        "MedicinalProductAuthorization",
        "MedicinalProductContraindication",
        "MedicinalProductIndication",
        "MedicinalProductIngredient",
        "MedicinalProductInteraction",
        "MedicinalProductManufactured",
        "MedicinalProductPackaged",
        "MedicinalProductPharmaceutical",
        "MedicinalProductUndesirableEffect",
        "RiskEvidenceSynthesis",
        "SubstanceNucleicAcid",
        "SubstancePolymer",
        "SubstanceProtein",
        "SubstanceReferenceInformation",
        "SubstanceSourceMaterial",
        "SubstanceSpecification",
    }
)
# R4 resource types whose R4B model is a different design: R4 content would be misjudged.
R4B_REDESIGNED_RESOURCE_TYPES: typing.Final = frozenset({"Evidence", "EvidenceVariable"})
# R4B (4.3) resource types that R4 does not have.
R4B_ONLY_RESOURCE_TYPES: typing.Final = frozenset(
    {
        "AdministrableProductDefinition",
        "Citation",
        "ClinicalUseDefinition",
        "EvidenceReport",
        "Ingredient",
        "ManufacturedItemDefinition",
        "MedicinalProductDefinition",
        "NutritionProduct",
        "PackagedProductDefinition",
        "RegulatedAuthorization",
        "SubscriptionStatus",
        "SubscriptionTopic",
        "SubstanceDefinition",
    }
)
_ABSTRACT_TYPES = frozenset({"Resource", "DomainResource"})

# JSON kinds of FHIR primitive values
_BOOLEAN, _INTEGER, _DECIMAL, _STRING = "boolean", "integer", "decimal", "string"
# other kinds of element
_ELEMENT, _RESOURCE = "element", "resource"
_EXPECTED = {
    _BOOLEAN: "a JSON boolean (true or false)",
    _INTEGER: "a JSON integer number",
    _DECIMAL: "a JSON number",
    _STRING: "a JSON string",
    _ELEMENT: "a JSON object",
    _RESOURCE: "a JSON object (a resource)",
}


@dataclass(frozen=True, slots=True)
class _Field:
    kind: str
    is_list: bool
    model: type[BaseModel] | None = None  # the model of an element's content


def check_structure(bundle: dict[str, Any]) -> list[Issue]:
    """All FHIR R4 structure issues of a Bundle (a parsed JSON object whose resourceType is Bundle)."""
    issues = _json_issues(bundle)
    walked = {issue.expression for issue in issues}
    entries = bundle.get("entry")
    shell = bundle
    if isinstance(entries, list):
        # the Bundle without its entries' resources; each resource is validated on its own below
        shell = dict(bundle)
        shell["entry"] = [
            {k: v for k, v in entry.items() if k != "resource"} if isinstance(entry, dict) else entry
            for entry in entries
        ]
    model_issues = _model_issues(Bundle, shell, (), walked)
    for i, entry in enumerate(entries if isinstance(entries, list) else ()):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        model = _resource_model(resource.get("resourceType"))
        if isinstance(model, type):  # else the JSON walk reported a missing, unknown or unchecked type
            model_issues.extend(_model_issues(model, resource, ("entry", i, "resource"), walked))
    seen = set(walked)
    for issue in model_issues:
        if issue.expression not in seen:
            seen.add(issue.expression)
            issues.append(issue)
    return issues


# --- the fhir.resources models ------------------------------------------------------------------------------


def _model_issues(
    model: type[BaseModel], data: dict[str, Any], prefix: tuple[str | int, ...], walked: set[str | None]
) -> list[Issue]:
    """The model's issues for the data, at their FHIRPath below prefix."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [_issue_from_error(detail, prefix) for detail in exc.errors(include_url=False)]
    except Exception:
        # fhir.resources 8.3 raises other exceptions on some malformed input: AttributeError for a number
        # where a url belongs, KeyError for an unknown resourceType of a contained resource, RecursionError.
        # The JSON walk names the cause of the known ones; only when it found nothing here, say that the
        # structure could not be checked, so the message is not passed as valid.
        where = paths.from_parts(prefix)
        below = (where + ".", where + "[")
        if any(e is not None and (e == where or e.startswith(below)) for e in walked):
            return []
        return [error("structure", where, "the FHIR R4 structure here could not be checked (malformed content)")]
    return []


_DROPPED_LOC_PARTS = frozenset({"root", "__root__", "str", "list[str]"})


def _element_parts(loc: tuple[Any, ...]) -> list[str | int]:
    """pydantic's loc as JSON keys and indices: drop its own markers (root, union branch names)."""
    parts: list[str | int] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(part)
        elif isinstance(part, str) and part not in _DROPPED_LOC_PARTS and "[" not in part:
            # fhir.resources names its Python fields x__ext for the JSON property _x
            parts.append("_" + part[: -len("__ext")] if part.endswith("__ext") else part)
    return parts


_TYPE_WORDS = {
    "string_type": _EXPECTED[_STRING],
    "bool_type": _EXPECTED[_BOOLEAN],
    "bool_parsing": _EXPECTED[_BOOLEAN],
    "int_type": _EXPECTED[_INTEGER],
    "int_parsing": _EXPECTED[_INTEGER],
    "int_from_float": _EXPECTED[_INTEGER],
    "float_type": _EXPECTED[_DECIMAL],
    "float_parsing": _EXPECTED[_DECIMAL],
    "decimal_type": _EXPECTED[_DECIMAL],
    "decimal_parsing": _EXPECTED[_DECIMAL],
    "list_type": "a JSON array",
    "dict_type": _EXPECTED[_ELEMENT],
    "model_type": _EXPECTED[_ELEMENT],
    "model_attributes_type": _EXPECTED[_ELEMENT],
    "json_invalid": _EXPECTED[_ELEMENT],
    "json_type": _EXPECTED[_ELEMENT],
    "model_validation_format": _EXPECTED[_ELEMENT],
    "bytes_type": "a JSON string (base64)",
    "datetime_type": "a JSON string (a FHIR date/time)",
    "date_type": "a JSON string (a FHIR date)",
    "time_type": "a JSON string (a FHIR time)",
    "url_type": "a JSON string (a URL)",
    "uuid_type": "a JSON string (a UUID)",
}
_MISSING = frozenset({"missing", "model_field_validation.missing"})


def _issue_from_error(detail: Any, prefix: tuple[str | int, ...]) -> Issue:
    loc = detail.get("loc") if isinstance(detail, dict) else None
    parts = [*prefix, *_element_parts(loc if isinstance(loc, tuple) else ())]
    where = paths.from_parts(parts)
    kind = str(detail.get("type", "")) if isinstance(detail, dict) else ""
    message = str(detail.get("msg", "")) if isinstance(detail, dict) else ""
    value = detail.get("input") if isinstance(detail, dict) else None
    name = next((p for p in reversed(parts) if isinstance(p, str)), "Bundle")
    if kind in _MISSING:
        return error("required", where, f"the required element {_short(name)} is missing")
    if kind == "extra_forbidden":
        return error("structure", where, f"unknown element {_short(name)}: FHIR R4 defines no such element here")
    if kind in _TYPE_WORDS:
        return error("structure", where, f"expected {_TYPE_WORDS[kind]}, found {_describe(value)}")
    if kind == "value_error":
        text = message.removeprefix("Value error, ")
        if text.startswith("Expect any of field value from this list"):
            choices = _bracketed(text)
            return error("required", where, f"one of the elements {choices} is required; none is present")
        if text.startswith("Any of one field value is expected from this list"):
            return error("structure", where, "more than one type of a choice element (value[x]) is present")
        regex = _FORMAT_FAILURE.match(text)
        if regex:
            kind = regex.group(1).lower()
            hint = _FORMAT_HINTS.get(kind, "")
            return error("value", where, f"{_describe(value)} is not a valid FHIR {kind}{hint}")
        return error("value", where, f"{_describe(value)} is not valid: {text}")
    return error("value", where, f"{_describe(value)} is not valid: {message}")


_FORMAT_FAILURE = re.compile(r"(\w+) value string does not match spec regex")
_FORMAT_HINTS = {
    "instant": " (a date and time with seconds and a timezone, e.g. 2024-05-01T12:00:00+02:00)",
    "datetime": " (e.g. 2024-05-01, or 2024-05-01T12:00:00+02:00 with a timezone)",
    "date": " (YYYY, YYYY-MM or YYYY-MM-DD)",
    "time": " (hh:mm:ss)",
}


def _bracketed(text: str) -> str:
    start, end = text.find("["), text.rfind("]")
    return text[start + 1 : end].replace("'", "") if 0 <= start < end else "?"


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {_short(value)}"
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


# --- the models' field table --------------------------------------------------------------------------------


def _resource_model(resource_type: Any) -> type[BaseModel] | str:
    """The R4B model of an R4 resource type, or the reason there is none."""
    return _model_of(resource_type) if isinstance(resource_type, str) else "missing"


@lru_cache(maxsize=512)
def _model_of(resource_type: str) -> type[BaseModel] | str:
    if resource_type in R4_ONLY_RESOURCE_TYPES or resource_type in R4B_REDESIGNED_RESOURCE_TYPES:
        return "unchecked"
    if resource_type in R4B_ONLY_RESOURCE_TYPES or resource_type in _ABSTRACT_TYPES:
        return "unknown"
    if not resource_type.isidentifier() or not resource_type[:1].isupper():
        return "unknown"
    try:
        model = get_fhir_model_class(resource_type)
    except Exception:  # ValueError for an unknown name; anything else is no better
        return "unknown"
    if not issubclass(model, Resource) or model.get_resource_type() != resource_type:
        return "unknown"  # a datatype name such as Coding
    return model


@cache
def _fields(model: type[BaseModel]) -> dict[str, _Field]:
    """JSON property name -> what its value must be, for one model class."""
    table: dict[str, _Field] = {}
    for name, info in model.model_fields.items():
        if name == "fhir_comments":
            continue  # a fhir.resources extra, not FHIR
        field = _field(info.annotation)
        if field is not None:
            table[info.alias or name] = field
    return table


def _field(annotation: Any) -> _Field | None:
    is_list = False
    kind: str | None = None
    model: type[BaseModel] | None = None
    pending = [annotation]
    while pending:
        current = pending.pop()
        origin = typing.get_origin(current)
        if origin is typing.Annotated:
            pending.append(typing.get_args(current)[0])
        elif origin is list:
            is_list = True
            pending.extend(typing.get_args(current))
        elif origin is typing.Union or origin is types.UnionType:
            pending.extend(a for a in typing.get_args(current) if a is not type(None))
        elif current is bool:
            kind = _BOOLEAN
        elif current is int:
            kind = _INTEGER
        elif current in (decimal.Decimal, float):
            kind = _DECIMAL
        elif isinstance(current, type) and hasattr(current, "get_model_klass"):
            target = current.get_model_klass()
            if target is Resource:
                kind = _RESOURCE
            else:
                kind, model = _ELEMENT, target
        elif kind is None:
            kind = _STRING  # str, date, datetime, time, bytes (base64), UUID, url: all JSON strings
    return None if kind is None else _Field(kind, is_list, model)


# --- the JSON walk ------------------------------------------------------------------------------------------


def _json_issues(bundle: dict[str, Any]) -> list[Issue]:
    """JSON-level FHIR rules the models do not enforce; iterative, one pass over the Bundle."""
    issues: list[Issue] = []
    # breadth first, so the issues come out roughly in document order
    todo: deque[tuple[dict[str, Any], type[BaseModel], str]] = deque([(bundle, Bundle, "Bundle")])
    while todo:
        obj, model, path = todo.popleft()
        if not obj:
            issues.append(error("structure", path, "an empty JSON object is not allowed; leave the element out"))
            continue
        table = _fields(model)
        is_resource = issubclass(model, Resource)
        for key, value in obj.items():
            if is_resource and key == "resourceType":
                continue
            where = paths.child(path, key)
            spec = table.get(key)
            if spec is None:
                issues.append(
                    error("structure", where, f"unknown element {_short(key)}: FHIR R4 defines no such element here")
                )
                continue
            primitive_part = key.startswith("_")
            if value is None:
                issues.append(error("structure", where, "null is not allowed; leave the element out"))
            elif spec.is_list:
                if not isinstance(value, list):
                    issues.append(error("structure", where, f"expected a JSON array, found {_describe(value)}"))
                    continue
                if not value:
                    issues.append(
                        error("structure", where, "an empty JSON array is not allowed; leave the element out")
                    )
                for i, member in enumerate(value):
                    # in arrays of primitives, null keeps a value and its extensions (_x) aligned
                    if member is None and (primitive_part or spec.kind not in (_ELEMENT, _RESOURCE)):
                        continue
                    _check_value(member, spec, paths.item(where, i), primitive_part, issues, todo)
            else:
                _check_value(value, spec, where, primitive_part, issues, todo)
    return issues


def _check_value(
    value: Any,
    spec: _Field,
    where: str,
    primitive_part: bool,
    issues: list[Issue],
    todo: deque[tuple[dict[str, Any], type[BaseModel], str]],
) -> None:
    if primitive_part:
        # `_x` holds the id and extensions of the primitive x
        if isinstance(value, dict):
            todo.append((value, FHIRPrimitiveExtension, where))
        else:
            issues.append(
                error(
                    "structure",
                    where,
                    f"expected a JSON object (id and extensions of a primitive), found {_describe(value)}",
                )
            )
        return
    kind = spec.kind
    if kind == _ELEMENT:
        if isinstance(value, dict) and spec.model is not None:
            todo.append((value, spec.model, where))
        elif not isinstance(value, dict):
            issues.append(error("structure", where, f"expected a JSON object, found {_describe(value)}"))
    elif kind == _RESOURCE:
        if not isinstance(value, dict):
            issues.append(error("structure", where, f"expected a JSON object (a resource), found {_describe(value)}"))
            return
        resource_type = value.get("resourceType")
        model = _resource_model(resource_type)
        if isinstance(model, type):
            todo.append((value, model, where))
        elif model == "missing":
            issues.append(
                error("required", paths.child(where, "resourceType"), "a resource must name its resourceType")
            )
        elif model == "unchecked":
            issues.append(
                Issue(
                    Severity.WARNING,
                    "not-supported",
                    where,
                    f"the structure of the R4 resource type {resource_type} is not checked (no R4 model for it)",
                )
            )
        else:
            shown = _short(str(resource_type))
            issues.append(
                error(
                    "structure",
                    paths.child(where, "resourceType"),
                    f"{shown} is not a FHIR R4 resource type",
                )
            )
    elif kind == _BOOLEAN:
        if not isinstance(value, bool):
            issues.append(error("structure", where, f"expected {_EXPECTED[kind]}, found {_describe(value)}"))
    elif kind == _INTEGER:
        if not isinstance(value, int) or isinstance(value, bool):
            issues.append(error("structure", where, f"expected {_EXPECTED[kind]}, found {_describe(value)}"))
    elif kind == _DECIMAL:
        if not isinstance(value, int | float) or isinstance(value, bool):
            issues.append(error("structure", where, f"expected {_EXPECTED[kind]}, found {_describe(value)}"))
    elif not isinstance(value, str):
        issues.append(error("structure", where, f"expected {_EXPECTED[_STRING]}, found {_describe(value)}"))
    elif not value:
        issues.append(error("value", where, "an empty string is not allowed; leave the element out"))
