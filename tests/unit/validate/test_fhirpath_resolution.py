"""resolve() inside the Bundle: fullUrl, Type/id and #id as FHIR R4 resolves references in Bundles, the same in
the compiled closures and in fhirpathpy (the user function), and one index of the Bundle per validation."""

from __future__ import annotations

import random
from typing import Any

import fhirpathpy
import orjson
import pytest
from fhirpathpy.models import models

from hub.validate import Validator
from hub.validate.fhirpath import compile_invariant
from hub.validate.fhirpath.natives import NATIVE
from hub.validate.fhirpath.resolution import BundleScope, evaluating, follows_references, resolve, within
from hub.validate.fhirpath.upstream import ResourceNode
from hub.validate.rules import _no_trace, _user_functions
from tests.medcom_examples import MEDCOM_EXAMPLES
from tests.unit.validate.test_fhirpath import _fhirpathpy, _mutations

VALIDATOR = Validator()
CARE = MEDCOM_EXAMPLES / "carecommunication" / "Bundle-gfd00bc2-9c26-4174-934e-f6e4360845de.json"
NOTIFICATION = sorted((MEDCOM_EXAMPLES / "hospitalnotification").glob("*.json"))[0]

PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female"}
ABSENT_ID = {"resourceType": "Organization", "name": "no id"}
OTHER_BASE = {"resourceType": "Patient", "id": "p1", "gender": "male"}
OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "o1",
    "contained": [{"resourceType": "Device", "id": "d1"}],
    "subject": {"reference": "Patient/p1"},
}
BUNDLE: dict[str, Any] = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {"fullUrl": "urn:uuid:9d2f7b7e-0c4a-4c1e-9a53-3f4f2b6c1d11", "resource": PATIENT},
        {"fullUrl": "https://a.example/fhir/Organization/org1", "resource": ABSENT_ID},
        {"fullUrl": "https://b.example/fhir/Patient/p1", "resource": OTHER_BASE},
        {"fullUrl": "https://b.example/fhir/Observation/o1", "resource": OBSERVATION},
        {"fullUrl": "urn:uuid:5b9f3f0e-1d2c-4f7a-8e6b-2a1c3d4e5f60", "resource": {"resourceType": "Basic", "id": "b"}},
    ],
}


def _found(reference: Any, resource: Any = None, root: Any = None) -> list[Any]:
    with within(BUNDLE):
        found = resolve([reference], resource, root)
    assert all(isinstance(node, ResourceNode) for node in found)
    return [node.data for node in found]


def test_an_absolute_reference_resolves_to_the_entry_of_that_full_url() -> None:
    assert _found("urn:uuid:9d2f7b7e-0c4a-4c1e-9a53-3f4f2b6c1d11") == [PATIENT]
    assert _found({"reference": "https://a.example/fhir/Organization/org1"}) == [ABSENT_ID]
    assert _found("urn:uuid:00000000-0000-4000-8000-000000000000") == []


def test_a_relative_reference_resolves_by_type_and_id_or_by_a_full_url_ending_in_it() -> None:
    assert _found("Patient/p1", PATIENT, PATIENT) == [PATIENT]  # the first entry of that type and id
    assert _found("Organization/org1") == [ABSENT_ID]  # no id: its fullUrl ends in Organization/org1
    assert _found("Basic/b") == [{"resourceType": "Basic", "id": "b"}]
    assert _found("Patient/p2") == []


def test_a_relative_reference_in_an_entry_with_a_restful_full_url_takes_that_base_first() -> None:
    assert _found("Patient/p1", OBSERVATION, OBSERVATION) == [OTHER_BASE]


def test_a_fragment_resolves_to_a_contained_resource_of_the_container() -> None:
    device = OBSERVATION["contained"][0]
    assert _found("#d1", OBSERVATION, OBSERVATION) == [device]
    assert _found("#d1", device, OBSERVATION) == [device]  # from inside a contained resource: its container's
    assert _found("#d1", OBSERVATION, BUNDLE) == [device]  # the Bundle as the root (the profile checks)
    assert _found("#", device, OBSERVATION) == [OBSERVATION]
    assert _found("#d2", OBSERVATION, OBSERVATION) == []


def test_a_version_specific_reference_needs_that_version_or_none() -> None:
    versioned = {"resourceType": "Patient", "id": "v", "meta": {"versionId": "2"}}
    bundle = {"resourceType": "Bundle", "entry": [{"fullUrl": "urn:uuid:1", "resource": versioned}]}
    with within(bundle):
        assert [n.data for n in resolve(["Patient/v/_history/2"], None, None)] == [versioned]
        assert resolve(["Patient/v/_history/1"], None, None) == []
        assert [n.data for n in resolve(["Basic/x/_history/1", "Patient/v"], None, None)] == [versioned]


@pytest.mark.parametrize("item", [None, 3, "", {"display": "x"}, {"reference": ["Patient/p1"]}, ["Patient/p1"]])
def test_what_is_no_reference_resolves_to_nothing(item: Any) -> None:
    assert _found(item) == []


def test_without_a_scope_the_root_or_resource_is_the_bundle_when_it_is_one() -> None:
    assert [n.data for n in resolve(["Basic/b"], BUNDLE, BUNDLE)] == [{"resourceType": "Basic", "id": "b"}]
    assert [n.data for n in resolve(["Basic/b"], BUNDLE, None)] == [{"resourceType": "Basic", "id": "b"}]
    assert resolve(["Basic/b"], PATIENT, PATIENT) == []


def test_a_scope_entered_for_a_resource_that_is_no_bundle_hides_an_outer_one() -> None:
    with within(BUNDLE), within(PATIENT):
        assert resolve(["Basic/b"], None, None) == []


@pytest.mark.parametrize(
    "expression",
    [
        "subject.resolve().gender = 'male'",
        "subject.reference.resolve().id = 'p1'",
        "contained.id.exists() and ('#d1').resolve().is(Device)",
        "subject.resolve().iif(empty(), true, ofType(Patient).exists())",
        "subject.resolve() = %rootResource.entry[2].resource",
        "subject.resolve().name.exists()",
    ],
)
def test_the_compiled_closure_gives_fhirpathpys_verdict(expression: str) -> None:
    fast = compile_invariant(expression, _user_functions(), _no_trace)
    assert fast is not None
    options = {"userInvocationTable": _user_functions(), "traceFn": _no_trace}
    compiled = fhirpathpy.compile(expression, models["r4"], options)
    with within(BUNDLE), evaluating(OBSERVATION, BUNDLE):
        result = compiled(OBSERVATION, {"resource": OBSERVATION, "rootResource": BUNDLE})
    expected = len(result) == 1 and result[0] is True
    with within(BUNDLE):
        assert fast(OBSERVATION, OBSERVATION, BUNDLE, "Observation") is expected
    assert expected is (expression != "subject.resolve().name.exists()")


def test_an_invariant_that_follows_references_holds_only_when_true() -> None:
    assert follows_references("a.resolve().b") and follows_references("a.resolve ( ).b")
    assert not follows_references("status = 'resolved'") and not follows_references("resolved()")
    empty = compile_invariant("subject.resolve().gender = 'male'", _user_functions(), _no_trace)
    assert empty is not None
    with within({"resourceType": "Bundle"}):  # resolves to nothing: the comparison is empty, which fails
        assert empty(OBSERVATION, OBSERVATION, OBSERVATION, "Observation") is False
    plain = compile_invariant("subject.missing = 'male'", _user_functions(), _no_trace)
    assert plain is not None
    assert plain(OBSERVATION, OBSERVATION, OBSERVATION, "Observation") is True  # without resolve(): empty holds


# a notification's invariants follow no reference, but its references' target profiles are followed (profiles.py)
@pytest.mark.parametrize(("path", "builds"), [(CARE, 1), (NOTIFICATION, 1)], ids=["carecommunication", "notification"])
def test_the_index_of_the_bundle_is_built_once_per_validation_and_only_when_needed(
    path: Any, builds: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []
    index = BundleScope._index

    def counted(self: BundleScope) -> dict[str, dict[str, Any]]:
        made.append(id(self.bundle))
        return index(self)

    monkeypatch.setattr(BundleScope, "_index", counted)
    raw = path.read_bytes()
    verdict = VALIDATOR.validate(raw)
    assert verdict.valid
    assert len(made) == builds


@pytest.mark.parametrize("expression", sorted(e for e in NATIVE if follows_references(e)))
def test_the_native_invariants_that_resolve_give_fhirpathpys_verdict_on_broken_bundles(expression: str) -> None:
    # the Bundle itself broken (so are the resources a reference resolves to), not only the resource checked
    fast = compile_invariant(expression, _user_functions(), _no_trace)
    assert fast is not None
    reference = _fhirpathpy(expression)
    rnd = random.Random(expression)
    messages = [
        orjson.loads(path.read_bytes()) for path in sorted((MEDCOM_EXAMPLES / "carecommunication").glob("*.json"))
    ]
    verdicts = set()
    for message in messages:
        for variant in _mutations(message, rnd, 25):
            found = variant.get("entry")
            entries: list[Any] = found if type(found) is list else []
            resources = [e.get("resource") for e in entries if type(e) is dict]
            if expression.startswith("Bundle"):
                inputs = [(variant, variant, variant, "Bundle")]
            else:
                inputs = [
                    (r, r, variant, "Communication")
                    for r in resources
                    if type(r) is dict and r.get("resourceType") == "Communication"
                ]
            for node, resource, root, type_path in inputs:
                expected = reference(node, resource, root, type_path)
                assert fast(node, resource, root, type_path) == expected, (expression, node)
                verdicts.add(expected)
    assert verdicts == {True, False}
