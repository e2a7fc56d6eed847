"""The compiled (and native) FHIRPath invariants give fhirpathpy's verdict on every input, valid or broken."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fhirpathpy
import orjson
import pytest
from fhirpathpy.engine.nodes import TypeInfo
from fhirpathpy.models import models

from hub.validate import fhirpath
from hub.validate.core import check_resource
from hub.validate.fhirpath.natives import NATIVE
from hub.validate.fhirpath.resolution import evaluating, follows_references
from hub.validate.fhirpath.upstream import make_node
from hub.validate.profiles import check_profiles
from hub.validate.rules import Invariant, _no_trace, _user_functions
from hub.validate.validator import SCHEMAS_DIR, Validator

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT.parent / "shared" / "medcom" / "examples"
DANISH = ROOT.parent / "shared" / "fhir-test-cases" / "messages"  # a realistic message (Patient.contact, ...)
MESSAGES = [
    *sorted(EXAMPLES.glob("*/Bundle-*.json")),
    *sorted((SCHEMAS_DIR / "samples").glob("*.json")),
    *sorted(DANISH.glob("*.json")),
]
Check = Callable[[Any, Any, Any, str], bool]
VALIDATOR = Validator()


def _fhirpathpy(expression: str) -> Check:
    """The evaluation the validator used before: fhirpathpy itself (rules._Fhirpath without the fast path); an
    expression with resolve() within evaluating(...) (for the user function resolve), held only when true."""
    options = {"userInvocationTable": _user_functions(), "traceFn": _no_trace}
    compiled = fhirpathpy.compile(expression, models["r4"], options)
    only_true = follows_references(expression)

    def check(node: Any, resource: Any, root: Any, type_path: str) -> bool:
        try:
            start: Any = node if "resourceType" in node else make_node(node, type_path)
            with evaluating(resource, root):
                result = compiled(start, {"resource": resource, "rootResource": root})
        except Exception:
            return True
        if only_true:
            return len(result) == 1 and result[0] is True
        return not (len(result) == 1 and result[0] is False)

    return check


def _invariants() -> list[Invariant]:
    found: dict[int, Invariant] = {}
    for type_rule in VALIDATOR.rules.types.values():
        for inv in type_rule.invariants:
            found[id(inv)] = inv
        for element in type_rule.elements.values():
            for inv in element.invariants:
                found[id(inv)] = inv
    todo = [profile.root for profile in VALIDATOR.rules.profiles.values()]
    while todo:
        node = todo.pop()
        for inv in node.invariants:
            found[id(inv)] = inv
        todo.extend(node.children + node.slices)
    return list(found.values())


def _inputs(messages: list[dict[str, Any]]) -> dict[str, list[tuple[Any, Any, Any, str]]]:
    """expression -> (node, resource, root, type) of its evaluations while the messages are validated."""
    met: dict[str, list[tuple[Any, Any, Any, str]]] = {}
    invariants = _invariants()
    saved = [(inv, inv.check) for inv in invariants]
    try:
        for inv in invariants:
            if inv.check is None:
                continue

            def record(node: Any, resource: Any, root: Any, type_path: str, _inv: Invariant = inv) -> bool:
                found = met.setdefault(_inv.expression, [])
                if len(found) < 12:
                    found.append((node, resource, root, type_path))
                return True

            inv.check = record
        for message in messages:
            check_resource(message, VALIDATOR.rules, "Bundle")
            check_profiles(VALIDATOR.rules, message)
    finally:
        for inv, check in saved:
            inv.check = check
    return met


def _mutations(node: dict[str, Any], rnd: random.Random, count: int) -> list[dict[str, Any]]:
    """Variants of node with values removed, replaced, repeated or retyped (deterministic for the seed)."""
    values: list[Any] = [None, 0, True, "", "x", "home", "onleave", "other", "primary", "regarding-referral", [], {}]
    values += ["Patient", "MessageHeader", "Provenance", "System.Patient", {"resourceType": 5}, ["a", "b"]]
    variants = []
    for _ in range(count):
        copied = copy.deepcopy(node)
        containers: list[Any] = []
        todo = [copied]
        while todo:
            current = todo.pop()
            if isinstance(current, dict):
                containers.append(current)
                todo.extend(current.values())
            elif isinstance(current, list):
                containers.append(current)
                todo.extend(current)
        for _ in range(rnd.randint(1, 3)):
            target = rnd.choice(containers)
            if isinstance(target, dict) and target:
                key = rnd.choice(sorted(target))
                choice = rnd.random()
                if choice < 0.4:
                    target[key] = copy.deepcopy(rnd.choice([*values, target[key], [target[key]] * 2]))
                elif choice < 0.6:
                    del target[key]
                else:
                    target[rnd.choice(["resourceType", "status", "use", "value", "_" + key, key])] = rnd.choice(values)
            elif isinstance(target, list) and target:
                if rnd.random() < 0.5:
                    target.append(copy.deepcopy(rnd.choice(target)))
                else:
                    target.pop(rnd.randrange(len(target)))
        variants.append(copied)
    return variants


@pytest.fixture(scope="module")
def met() -> dict[str, list[tuple[Any, Any, Any, str]]]:
    assert MESSAGES, "the MedCom examples or schemas/samples are missing"
    return _inputs([orjson.loads(path.read_bytes()) for path in MESSAGES])


def test_every_invariant_is_compiled() -> None:
    expressions = {inv.expression for inv in _invariants() if inv.check is not None}
    assert expressions
    for expression in expressions:
        assert fhirpath.compile_invariant(expression, _user_functions(), _no_trace) is not None, expression


def test_the_same_verdicts_on_the_messages(met: dict[str, list[tuple[Any, Any, Any, str]]]) -> None:
    assert len(met) >= 40
    for expression, inputs in met.items():
        fast = fhirpath.compile_invariant(expression, _user_functions(), _no_trace)
        assert fast is not None
        reference = _fhirpathpy(expression)
        for node, resource, root, type_path in inputs:
            assert fast(node, resource, root, type_path) == reference(node, resource, root, type_path), expression


@pytest.mark.parametrize("expression", sorted(NATIVE))
def test_the_same_verdicts_on_broken_content(expression: str, met: dict[str, list[tuple[Any, Any, Any, str]]]) -> None:
    fast = fhirpath.compile_invariant(expression, _user_functions(), _no_trace)
    assert fast is not None
    reference = _fhirpathpy(expression)
    rnd = random.Random(expression)
    inputs = met.get(expression, [])
    assert inputs, f"no message evaluates {expression}"
    verdicts = set()
    for node, resource, root, type_path in inputs[:4]:
        for variant in _mutations(node, rnd, 60):
            # the invariant of a resource sees itself as %resource (and a Bundle as the root)
            own_resource = variant if resource is node else resource
            own_root = variant if root is node else root
            if rnd.random() < 0.1:
                TypeInfo.model = None  # ofType before any is(): fhirpathpy's state on a fresh start
            model = TypeInfo.model
            expected = reference(variant, own_resource, own_root, type_path)
            TypeInfo.model = model
            assert fast(variant, own_resource, own_root, type_path) == expected, (expression, variant)
            verdicts.add(expected)
    assert verdicts, expression


def test_a_missing_function_counts_as_holding() -> None:
    # neither fhirpathpy nor the user functions have memberOfAll(): it raises on every input, which the
    # validator takes as "holds" (an expression that is false wherever it evaluates)
    expression = "reference.memberOfAll().exists() and false"
    check = fhirpath.compile_invariant(expression, _user_functions(), _no_trace)
    assert check is not None
    assert check({"reference": "Patient/1"}, {}, {}, "Reference") is True
    assert _fhirpathpy(expression)({"reference": "Patient/1"}, {}, {}, "Reference")
    false = fhirpath.compile_invariant("false", _user_functions(), _no_trace)
    assert false is not None
    assert false({"reference": "Patient/1"}, {}, {}, "Reference") is False


@pytest.mark.parametrize(
    "expression",
    [
        "name.exists() and name.given.count() = 2",
        "identifier.where(system = 'urn:x').value.startsWith('1')",
        "iif(active, gender = 'male', birthDate.exists())",
        "contact.all(name.exists() or telecom.exists())",
        "(name | telecom).count() > 1",
        "extension('http://x').value.code = 'a' implies active = true",
        "telecom.where($this.use = 'home').empty()",
        "name[0].given[1] = 'B'",
        "-birthDate.length() < 0",
    ],
)
def test_the_same_results_for_other_expressions(expression: str) -> None:
    fast = fhirpath.compile_invariant(expression, _user_functions(), _no_trace)
    fhirpathpy_check = _fhirpathpy(expression)
    assert fast is not None
    patient = orjson.loads(
        b'{"resourceType": "Patient", "active": true, "gender": "male", "birthDate": "2001-02-03",'
        b' "_birthDate": {"extension": [{"url": "http://x", "valueCode": "a"}]},'
        b' "name": [{"given": ["A", "B"], "_given": [null, {"id": "g"}]}, {"family": "F"}],'
        b' "telecom": [{"system": "phone", "use": "home", "value": "1"}],'
        b' "identifier": [{"system": "urn:x", "value": "123"}, {"system": "urn:y", "value": "9"}],'
        b' "extension": [{"url": "http://x", "valueCode": "a"}], "contact": [{"name": {"text": "C"}}]}'
    )
    rnd = random.Random(expression)
    for variant in [patient, *_mutations(patient, rnd, 80)]:
        assert fast(variant, variant, variant, "Patient") == fhirpathpy_check(variant, variant, variant, "Patient"), (
            expression,
            variant,
        )


@pytest.mark.parametrize(("key", "length"), [("gln-modulus-10", 13), ("CVR-modulus-11", 8)])
def test_dk_core_check_digits_in_python_give_what_their_fhirpath_gives(key: str, length: int) -> None:
    kind = {"gln-modulus-10": "gln", "CVR-modulus-11": "cvr"}[key]
    path = ROOT / "schemas" / "dkcore" / f"StructureDefinition-dk-core-{kind}-identifier.json"
    definition = orjson.loads(path.read_bytes())
    expression = next(
        c["expression"]
        for e in definition["differential"]["element"]
        for c in e.get("constraint", ())
        if c["key"] == key
    )
    fhirpath_only = fhirpath._compile_invariant(expression, _user_functions(), _no_trace)
    quick = fhirpath.compile_invariant(expression, _user_functions(), _no_trace)
    assert fhirpath_only is not None and quick is not None
    assert quick.__name__ == "on_string"  # the Python check, not the compiled FHIRPath
    draw = random.Random(length)
    values = ["", "abc", "1" * (length - 1), "x" + "1" * length, "5790000123452", "5790000123457", "12345674"]
    values += [
        "".join(draw.choice("0123456789") for _ in range(draw.randint(length - 1, length + 2))) for _ in range(3000)
    ]
    held = [quick(v, {}, {}, "string") for v in values]
    assert held == [fhirpath_only(v, {}, {}, "string") for v in values]
    assert True in held and False in held
