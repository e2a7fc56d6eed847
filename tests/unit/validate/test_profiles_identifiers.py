"""Identifier profiles (dk-core's, translated from FSH into schemas/dkcore/, and MedCom's own) are enforced wherever
an identifier of theirs appears: as the type profile of the element a slice names (Organization.identifier:SOR-ID,
Encounter.episodeOfCare:lpr3identifier.identifier), by the identifier's system anywhere else in the message, and as
the value of an extension whose definition names one (medcom-core-identifier-extension). A broken identifier is
rejected with an error at its FHIRPath, once; every official MedCom example stays valid."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest

from hub.domain import medcom
from hub.domain.message import BundleIndex
from hub.domain.outcome import Issue
from hub.validate import Validator
from hub.validate.core import FoundIdentifier, check_resource
from hub.validate.profiles import (
    _identifiers_in,
    check_identifiers,
    check_profile,
    check_profiles,
    identifier_profiles,
)
from tests.medcom_examples import MEDCOM_EXAMPLES, medcom_example_messages

VALIDATOR = Validator()
RULES = VALIDATOR.rules
DK_CORE = "http://hl7.dk/fhir/core/StructureDefinition/"
LPR3 = "http://medcomfhir.dk/ig/core/StructureDefinition/lpr3-Identifier"
ASSIGNED = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-assigned-identifier"
IDENTIFIER_EXTENSION = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-identifier-extension"
MESSAGING_ORGANIZATION = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-organization"
X_ECPR_SYSTEM = "urn:oid:1.2.208.176.1.6.1.1"
LPR3_SYSTEM = "https://www.esundhed.dk/Registre/Landspatientregisteret"
NOTIFICATION = MEDCOM_EXAMPLES / "hospitalnotification" / "Bundle-n73ccf30-80b9-4bd2-bf50-1ac1914498f0.json"
CARE = MEDCOM_EXAMPLES / "carecommunication" / "Bundle-add5e7e2-0c0f-4a4a-bfff-f6f984fa7e3c.json"
CARE_X_ECPR = MEDCOM_EXAMPLES / "carecommunication" / "Bundle-0d5b3c18-fab6-4d93-9d88-c9c8abf1f18c.json"
HOMECARE = Path(__file__).resolve().parents[2] / "data" / "homecareobservation"

pytestmark = pytest.mark.skipif(not MEDCOM_EXAMPLES.exists(), reason="../shared/medcom is not present")


@cache
def _example(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = orjson.loads(path.read_bytes())
    return found


def _copy(path: Path) -> dict[str, Any]:
    return copy.deepcopy(_example(path))


def _errors(message: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    verdict = VALIDATOR.validate(orjson.dumps(message))
    return [(i.code, i.expression, i.diagnostics) for i in verdict.issues if i.is_error]


def _entry(message: dict[str, Any], resource_type: str) -> int:
    return next(i for i, e in enumerate(message["entry"]) if e["resource"]["resourceType"] == resource_type)


def _sender(message: dict[str, Any]) -> int:
    target = BundleIndex(message).resolve(message["entry"][0]["resource"]["sender"])
    return next(i for i, e in enumerate(message["entry"]) if e["resource"] is target)


def _identifier_of(resource: dict[str, Any], system: str) -> int:
    return next(j for j, ident in enumerate(resource["identifier"]) if ident.get("system") == system)


def _official_examples() -> list[Path]:
    return [*medcom_example_messages(), *sorted(HOMECARE.glob("*/Bundle-*.json"))]


# --- what is compiled ---------------------------------------------------------------------------------------


def test_the_identifier_profiles_medcom_names_are_compiled_from_dk_core() -> None:
    named = {
        url
        for spec in RULES.profiles.values()
        for node in _nodes(spec.root)
        for url in node.type_profiles
        if url.startswith(DK_CORE)
    }
    assert named >= {
        DK_CORE + f"dk-core-{name}"
        for name in ("sor-identifier", "cpr-identifier", "x-ecpr-identifier", "d-ecpr-identifier", "gln-identifier")
    }
    for url in named:
        assert RULES.profiles[url].type == "Identifier", url


def _nodes(node: Any) -> list[Any]:
    out = [node]
    for child in (*node.children, *node.slices):
        out.extend(_nodes(child))
    return out


def test_each_identifier_system_maps_to_the_profile_that_fixes_it() -> None:
    known = identifier_profiles(RULES)
    expected = {
        medcom.SOR_SYSTEM: DK_CORE + "dk-core-sor-identifier",
        medcom.CPR_SYSTEM: DK_CORE + "dk-core-cpr-identifier",
        medcom.GLN_SYSTEM: DK_CORE + "dk-core-gln-identifier",
        X_ECPR_SYSTEM: DK_CORE + "dk-core-x-ecpr-identifier",
        LPR3_SYSTEM: LPR3,
    }
    for system, url in expected.items():
        assert known.by_system.get(system) == (url,), system
    assert known.by_extension.get(IDENTIFIER_EXTENSION) == (ASSIGNED,)
    # a profile without a fixed system (D-eCPR: its ValueSet is not in ../shared) applies only where it is named
    assert DK_CORE + "dk-core-d-ecpr-identifier" not in {u for urls in known.by_system.values() for u in urls}


def test_the_compile_keeps_the_translated_invariants_working() -> None:
    # an invariant that does not compile would hold on everything: each must fail on a broken value
    cases = {
        "dk-core-sor-identifier": ("265161000016000", "2651610"),
        "dk-core-cpr-identifier": ("2509479989", "3102479989"),
        "dk-core-x-ecpr-identifier": ("0703921VJ4", "0703920VJ4"),
        "dk-core-d-ecpr-identifier": ("0703920VJ4", "0703921VJ4"),
        "dk-core-gln-identifier": ("5790000209354", "5790000209355"),
        "dk-core-cvr-identifier": ("64942212", "64942213"),
        "dk-core-kombit-org-identifier": ("urn:uuid:0e6dc2a9-f5e1-4b4a-8a1c-a1e0a2c1b2c3", "0e6dc2a9"),
        "dk-core-authorization-identifier": ("0C7XN", "AEIOU"),
    }
    for name, (good, bad) in cases.items():
        value = next(c for c in RULES.profiles[DK_CORE + name].root.children if c.name == "value")
        assert value.invariants, name
        for inv in value.invariants:
            assert inv.check is not None and inv.check(good, {}, {}, "string"), (name, inv.key)
        assert not all(inv.check(bad, {}, {}, "string") for inv in value.invariants), name


# --- official examples --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _official_examples(), ids=lambda p: p.name)
def test_every_official_example_is_still_valid(path: Path) -> None:
    assert _errors(_example(path)) == []


def test_the_official_examples_have_identifiers_the_profiles_check() -> None:
    known = identifier_profiles(RULES)
    systems = {
        identifier.get("system")
        for path in medcom_example_messages()
        for identifier, _, _ in _identifiers_in(RULES, _example(path))
    }
    assert {medcom.SOR_SYSTEM, medcom.CPR_SYSTEM, medcom.GLN_SYSTEM, X_ECPR_SYSTEM, LPR3_SYSTEM} <= systems
    assert systems & set(known.by_system)


@pytest.mark.parametrize("path", _official_examples(), ids=lambda p: p.name)
def test_the_profiles_layer_finds_the_identifiers_and_extensions_the_structure_walk_meets(path: Path) -> None:
    message = _example(path)
    walked: list[FoundIdentifier] = []
    check_resource(message, RULES, "Bundle", identifiers=walked)
    found = _identifiers_in(RULES, message)
    assert walked  # every official message has identifiers
    assert sorted((id(o), id(r)) for o, _, r in found) == sorted((id(o), id(r)) for o, _, r in walked)


# --- broken identifiers, rejected at their FHIRPath ---------------------------------------------------------


def _short_sor(message: dict[str, Any]) -> str:
    at = _sender(message)
    organisation = message["entry"][at]["resource"]
    j = _identifier_of(organisation, medcom.SOR_SYSTEM)
    organisation["identifier"][j]["value"] = "1234567890"  # 10 digits: a SOR code for the hub, too short for dk-core
    return f"Bundle.entry[{at}].resource.identifier[{j}].value"


def _lpr3_uuid_v4(message: dict[str, Any]) -> str:
    at = _entry(message, "Encounter")
    episodes = message["entry"][at]["resource"]["episodeOfCare"]
    k = next(k for k, e in enumerate(episodes) if e["identifier"]["system"] == LPR3_SYSTEM)
    episodes[k]["identifier"]["value"] = "urn:uuid:fc60e762-b13b-4773-865e-67f3907bdcc7"  # version 4, not 5
    return f"Bundle.entry[{at}].resource.episodeOfCare[{k}].identifier.value"


def _gln_check_digit(message: dict[str, Any]) -> str:
    at = _sender(message)
    organisation = message["entry"][at]["resource"]
    j = _identifier_of(organisation, medcom.GLN_SYSTEM)
    value = organisation["identifier"][j]["value"]
    organisation["identifier"][j]["value"] = value[:12] + str((int(value[12]) + 1) % 10)
    return f"Bundle.entry[{at}].resource.identifier[{j}].value"


def _cpr_no_date(message: dict[str, Any]) -> str:
    at = _entry(message, "Patient")
    j = _identifier_of(message["entry"][at]["resource"], medcom.CPR_SYSTEM)
    message["entry"][at]["resource"]["identifier"][j]["value"] = "3102479989"  # no 31 February
    return f"Bundle.entry[{at}].resource.identifier[{j}].value"


def _x_ecpr_digit(message: dict[str, Any]) -> str:
    at = _entry(message, "Patient")
    j = _identifier_of(message["entry"][at]["resource"], X_ECPR_SYSTEM)
    message["entry"][at]["resource"]["identifier"][j]["value"] = "0703920VJ4"  # 0: a D-eCPR's digit, not X-eCPR's
    return f"Bundle.entry[{at}].resource.identifier[{j}].value"


def _assigned_not_uuid(message: dict[str, Any]) -> str:
    at = _entry(message, "Communication")
    extensions = message["entry"][at]["resource"]["payload"][0]["extension"]
    n = next(n for n, x in enumerate(extensions) if x["url"] == IDENTIFIER_EXTENSION)
    extensions[n]["valueIdentifier"]["value"] = "24d01288-ad36-4af2-96a8-fd1432dadee1"  # no urn:uuid:
    return f"Bundle.entry[{at}].resource.payload[0].extension[{n}].valueIdentifier.value"


BROKEN: list[tuple[str, Path, Callable[[dict[str, Any]], str], str]] = [
    ("sor-min-digits", NOTIFICATION, _short_sor, "min-digits-sor"),
    ("lpr3-uuid-v4", NOTIFICATION, _lpr3_uuid_v4, "uuidv5"),
    ("gln-check-digit", CARE, _gln_check_digit, "gln-modulus-10"),
    ("cpr-no-such-date", CARE, _cpr_no_date, "cpr"),
    ("x-ecpr-digit", CARE_X_ECPR, _x_ecpr_digit, "x-ecpr"),
    ("assigned-identifier-not-urn-uuid", CARE, _assigned_not_uuid, "medcom-uuidv4"),
]


@pytest.mark.parametrize(("path", "breaks", "key"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_a_broken_identifier_is_rejected_once_at_its_fhirpath(
    path: Path, breaks: Callable[[dict[str, Any]], str], key: str
) -> None:
    message = _copy(path)
    where = breaks(message)
    assert _errors(message) == [("invariant", where, next(e[2] for e in _errors(message)))]
    [(_, _, diagnostics)] = _errors(message)
    assert diagnostics.startswith(f"{key}: ")


def test_no_diagnostic_quotes_the_broken_cpr_number() -> None:
    message = _copy(CARE)
    at = _entry(message, "Patient")
    identifier = message["entry"][at]["resource"]["identifier"][
        _identifier_of(message["entry"][at]["resource"], medcom.CPR_SYSTEM)
    ]
    identifier["value"] = "3213991234567"  # no date, and longer than its maxLength 10
    issues = VALIDATOR.validate(orjson.dumps(message)).issues
    assert [i for i in issues if i.is_error]
    for issue in issues:
        assert "3213991234" not in (issue.diagnostics or "") and "321399" not in (issue.diagnostics or "")


def test_an_x_ecpr_identifier_breaking_its_fixed_use_and_max_length() -> None:
    message = _copy(CARE_X_ECPR)
    at = _entry(message, "Patient")
    j = _identifier_of(message["entry"][at]["resource"], X_ECPR_SYSTEM)
    identifier = message["entry"][at]["resource"]["identifier"][j]
    identifier["use"] = "official"  # an X-eCPR is temp (exactly)
    assert _errors(message) == [
        ("value", f"Bundle.entry[{at}].resource.identifier[{j}].use", next(e[2] for e in _errors(message)))
    ]
    identifier["use"] = "temp"
    identifier["value"] = "0703921VJ45"  # 11 characters
    codes = {(code, where) for code, where, _ in _errors(message)}
    assert ("value", f"Bundle.entry[{at}].resource.identifier[{j}].value") in codes
    assert any("at most 10" in text for _, _, text in _errors(message))


# --- found by system where no slice names them ----------------------------------------------------------------


def _sor(value: str) -> dict[str, str]:
    return {"system": medcom.SOR_SYSTEM, "value": value}


def test_a_sor_identifier_in_a_reference_no_slice_names_is_checked_by_its_system() -> None:
    message = _copy(NOTIFICATION)
    at = _entry(message, "Provenance")
    message["entry"][at]["resource"]["agent"][0]["who"]["identifier"] = _sor("12345")
    where = f"Bundle.entry[{at}].resource.agent[0].who.identifier.value"
    assert [(code, e) for code, e, _ in _errors(message)] == [("invariant", where)]
    message["entry"][at]["resource"]["agent"][0]["who"]["identifier"] = _sor("265161000016000")
    assert _errors(message) == []


def test_an_lpr3_identifier_in_an_extension_is_checked_by_its_system() -> None:
    message = _copy(NOTIFICATION)
    at = _entry(message, "Patient")
    patient = message["entry"][at]["resource"]
    ext = {
        "url": "http://hl7.org/fhir/StructureDefinition/patient-importance",  # any extension with an Identifier
        "valueIdentifier": {"system": LPR3_SYSTEM, "value": "urn:uuid:fc60e762-b13b-4773-865e-67f3907bdcc7"},
    }
    patient["extension"] = [ext]
    found = [(code, e) for code, e, _ in _errors(message)]
    assert ("invariant", f"Bundle.entry[{at}].resource.extension[0].valueIdentifier.value") in found


def test_a_coding_with_an_identifier_system_is_no_identifier() -> None:
    message = _copy(NOTIFICATION)
    at = _entry(message, "Patient")
    # the system of SOR on a Coding: LPR3's and SOR's value 1.. and invariants are no rules of a Coding
    message["entry"][at]["resource"]["meta"]["tag"] = [{"system": LPR3_SYSTEM, "code": "x"}]
    assert _errors(message) == []
    message["entry"][at]["resource"]["maritalStatus"] = {"coding": [{"system": medcom.SOR_SYSTEM, "code": "1"}]}
    assert not [e for e in _errors(message) if "profile dk-core" in e[2]]


# --- once, whichever way it is found -------------------------------------------------------------------------


def test_the_slice_type_profile_and_the_system_each_find_a_broken_sor_once() -> None:
    message = _copy(NOTIFICATION)
    where = _short_sor(message)
    at = _sender(message)
    organisation = message["entry"][at]["resource"]
    # as the type profile of the slice SOR-ID (its system decides the slice): the organisation profile alone
    by_slice = check_profile(RULES, MESSAGING_ORGANIZATION, organisation, f"Bundle.entry[{at}].resource")
    assert [(i.code, i.expression) for i in by_slice] == [("invariant", where)]
    # by its system alone, no profile of the organisation applied
    by_system: list[Issue] = []
    check_identifiers(RULES, message, _identifiers_in(RULES, message), by_system, set())
    assert [(i.code, i.expression) for i in by_system] == [("invariant", where)]
    # both ways in one message: once
    both = [i for i in check_profiles(RULES, message) if i.is_error]
    assert [(i.code, i.expression) for i in both] == [("invariant", where)]


def test_the_structure_walk_finds_the_identifiers_the_profiles_layer_would() -> None:
    for path in medcom_example_messages():
        message = _example(path)
        collected: list[FoundIdentifier] = []
        check_resource(message, RULES, "Bundle", identifiers=collected)
        assert sorted(id(i) for i, _, _ in collected) == sorted(id(i) for i, _, _ in _identifiers_in(RULES, message))
        broken = _copy(path)
        identifiers = _identifiers_in(RULES, broken)
        for identifier, _, _ in identifiers:
            if identifier.get("system") == medcom.SOR_SYSTEM:
                identifier["value"] = "1"
        given: list[FoundIdentifier] = []
        check_resource(broken, RULES, "Bundle", identifiers=given)
        assert check_profiles(RULES, broken, given) == check_profiles(RULES, broken), path.name


# --- speed: matches() on an identifier's value without fhirpathpy's ctx, with the same verdicts ------------------


VALUES: list[Any] = ["", " ", "123", "12345678901", "2509479989", "3102479989", "0703921VJ4", "x\n12345678901"]
VALUES += ["12345678901\n", "urn:uuid:fc60e762-b13b-5773-865e-67f3907bdcc7", "resourceType", "١٢٣٤٥٦٧٨٩٠١", "a'b"]
VALUES += [5, True, {"a": 1}]


@pytest.mark.parametrize("value", VALUES)
def test_matches_on_a_value_gives_fhirpathpys_verdict(value: Any) -> None:
    from hub.validate import fhirpath
    from hub.validate.rules import _no_trace, _user_functions
    from tests.unit.validate.test_fhirpath import _fhirpathpy

    expressions = {
        inv.expression
        for url, profile in RULES.profiles.items()
        if profile.type == "Identifier"
        for node in _nodes(profile.root)
        for inv in node.invariants
        if inv.expression.startswith("matches(")
    }
    assert len(expressions) >= 5
    for expression in sorted(expressions):
        fast = fhirpath.compile_invariant(expression, _user_functions(), _no_trace)
        assert fast is not None
        assert fast(value, {}, {}, "string") == _fhirpathpy(expression)(value, {}, {}, "string"), expression


def _variants(identifier: dict[str, Any]) -> list[dict[str, Any]]:
    """The identifier and copies with one element removed, emptied, retyped, lengthened or changed."""
    out = [identifier]
    for key in ("use", "system", "value"):
        for replacement in (None, "", 5, ["x"], "official", "temp", "1" * 11, "x" * 20):
            changed = dict(identifier)
            if replacement is None:
                changed.pop(key, None)
            else:
                changed[key] = replacement
            out.append(changed)
    if type(identifier.get("value")) is str:
        out.append(dict(identifier, value=identifier["value"][:-1]))
        out.append(dict(identifier, value=identifier["value"] + "0"))
    return out


def test_the_quick_acceptance_of_a_simple_identifier_profile_agrees_with_its_checks() -> None:
    from hub.validate.profiles import _Run, check_type_profile

    known = identifier_profiles(RULES)
    assert {DK_CORE + "dk-core-sor-identifier", DK_CORE + "dk-core-cpr-identifier", LPR3} <= set(known.accepts)
    assert ASSIGNED not in known.accepts  # (its assigner names an organisation profile: checked in full)
    identifiers = [
        identifier for path in medcom_example_messages() for identifier, _, _ in _identifiers_in(RULES, _example(path))
    ]
    verdicts = set()
    for url, accepts in known.accepts.items():
        for identifier in (v for i in identifiers for v in _variants(i)):
            issues: list[Issue] = []
            check_type_profile(_Run(RULES, RULES.profiles[url], {}, {}, issues), url, identifier, "Identifier")
            accepted = accepts(identifier, {}, {})
            # accepted: it meets every rule; not accepted: the checks run (and may find it holds, a JSON number)
            assert not (accepted and issues), (url, identifier)
            verdicts.add((accepted, not issues))
    assert verdicts >= {(True, True), (False, False)}
    # every identifier of the official examples of a simple profile's system is accepted without the checks
    for identifier in identifiers:
        for url in known.by_system.get(str(identifier.get("system")), ()):
            assert known.accepts[url](identifier, {}, {}), url
