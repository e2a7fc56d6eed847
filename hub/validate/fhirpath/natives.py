"""The frequent invariants, spelled out in Python over (JSON value, path) pairs; NATIVE maps each expression to it.

The MedCom profile invariants run on every message, most of them over all entries of the Bundle. For them the
expression is spelled out here step by step as fhirpathpy takes it (the steps of hub.validate.fhirpath.pairs:
the same navigation, type tests, equality, three-valued logic and exceptions), without ResourceNode objects or
closures per step. The expression text is the key: an edited definition is compiled instead (compiler).
Four of them follow references (MedCom's cc-7, cc-8, cc-11 and cc-12): resolve() there is
hub.validate.fhirpath.resolution's, and they hold only when true, as every expression with resolve().
ON_STRINGS holds invariants spelled out for a string value only (dk-core's GLN and CVR check digits).
"""

from __future__ import annotations

import re
from collections import abc
from typing import Any

from hub.domain.identifiers import gln_check_digit
from hub.validate.fhirpath.environment import Check
from hub.validate.fhirpath.pairs import (
    PLAIN,
    TYPES,
    UNKNOWN,
    Item,
    Raises,
    equals,
    is_mapping,
    named,
    nav,
    pair_is,
    pairs_of_type,
    path_of,
    set_model,
    single_string,
    starts_with,
    type_named,
)
from hub.validate.fhirpath.resolution import resolve
from hub.validate.fhirpath.upstream import equality, make_node


def _root(node: Any, type_path: str) -> tuple[bool, list[Item]]:
    """Whether the check starts from the raw resource (else from a ResourceNode), and the root as an item."""
    raw = "resourceType" in node
    if raw:
        return True, [(node, node["resourceType"] if is_mapping(node) else None)]
    return False, [(node, type_path)]


def _top(node: Any, type_path: str) -> list[Item]:
    """The root as an item."""
    return _root(node, type_path)[1]


def _count_is_one(resource_type: str) -> Check:
    """entry.where(resource.is(T)).count() = 1"""
    target = type_named(resource_type)

    def native(node: Any, resource: Any, root: Any, type_path: str) -> bool:
        top = _top(node, type_path)
        usual = _usual_entry_resources(top)
        if usual is not None:  # each entry has at most one resource: the criterion never raises
            if top[0][0].get("entry"):
                set_model()
            return len(pairs_of_type(usual, target)) == 1
        count = 0
        for entry in nav(top, "entry"):
            set_model()
            found = nav([entry], "resource")
            if not found:
                continue
            if len(found) > 1:
                raise Raises("is() on more than one item")
            if pair_is(found[0], target):
                count += 1
        return count == 1

    return native


def _entry_resources(top: list[Item]) -> list[Item]:
    """entry.resource: nav(nav(top, "entry"), "resource")."""
    found = _usual_entry_resources(top)
    return nav(nav(top, "entry"), "resource") if found is None else found


def _usual_entry_resources(top: list[Item]) -> list[Item] | None:
    """entry.resource directly, for a Bundle of the usual shape (entries that are objects with at most one
    resource, an object); None for any other shape."""
    if len(top) == 1:
        bundle, path = top[0]
        entry_path = PLAIN.get((path, "entry"), UNKNOWN) if type(path) is str else None
        resource_path = PLAIN.get((entry_path, "resource"), UNKNOWN) if type(entry_path) is str else None
        entries = bundle.get("entry") if type(bundle) is dict and "_entry" not in bundle else None
        if type(entries) is list and type(resource_path) is str:
            found: list[Item] = []
            for entry in entries:
                if type(entry) is not dict or "resourceType" in entry or "_resource" in entry:
                    break  # an entry of another shape: navigate
                resource = entry.get("resource")
                if type(resource) is dict:
                    found.append((resource, resource.get("resourceType", resource_path)))
                elif resource is not None:
                    break
            else:
                return found
    return None


def _first_entry(top: list[Item]) -> list[Item]:
    """entry[0]: nav(top, "entry")[:1], without navigating every entry."""
    if len(top) == 1:
        data, path = top[0]
        if type(data) is dict and type(path) is str:
            target = PLAIN.get((path, "entry"))
            entries = data.get("entry")
            if type(target) is str and type(entries) is list and entries:
                return [(entries[0], path_of(entries[0], target))]
    return nav(top, "entry")[:1]


def _resources(top: list[Item], resource_type: str) -> list[Item]:
    """entry.resource.ofType(T)"""
    return pairs_of_type(_entry_resources(top), TYPES[resource_type])


def _hn_4(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    top = _top(node, type_path)
    systems = nav(nav(_resources(top, "Patient"), "identifier"), "system")
    return equals(systems, "urn:oid:1.2.208.176.1.2") is not False


def _hn_5(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    raw, top = _root(node, type_path)
    headers = pairs_of_type(_entry_resources(named(raw, top, "Bundle")), TYPES["MessageHeader"])
    codes = nav(nav(nav(nav(headers, "destination"), "extension"), "value"), "code")
    return equals(codes, "primary") is not False


def _hn_6(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # where(status = 'onleave').extension.value.start.exists() or status != 'onleave'
    top = _top(node, type_path)
    on_leave = equals(nav(top, "status"), "onleave")
    kept = top if on_leave else []
    left = bool(nav(nav(nav(kept, "extension"), "value"), "start"))
    if on_leave is None:  # status is empty, so != is empty: (left or {}) is true or empty
        return True
    return left or not on_leave


def _cc_1(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    top = _top(node, type_path)
    first = _first_entry(top)
    headers = pairs_of_type(nav(first, "resource"), TYPES["MessageHeader"])
    profiles = nav(nav(headers, "meta"), "profile")
    prefix = "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-messageHeader"
    return starts_with(profiles, prefix) is not False


def _cc_3(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    top = _top(node, type_path)
    prefix = "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-provenance"
    for provenance in _resources(top, "Provenance"):
        if starts_with(nav(nav([provenance], "meta"), "profile"), prefix) is not True:
            return False
    return True


def _cc_4(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    top = _top(node, type_path)
    return bool(nav(_resources(top, "Practitioner"), "name"))


def _cc_5(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # where(category.coding.code != 'regarding-referral').priority.empty()
    top = _top(node, type_path)
    referral = equals(nav(nav(nav(top, "category"), "coding"), "code"), "regarding-referral")
    if referral is None or referral:
        return True
    return not nav(top, "priority")


def _cc_6(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # iif(category.coding.code != 'other', true, category.coding.code = 'other' and topic.exists())
    top = _top(node, type_path)
    other = equals(nav(nav(nav(top, "category"), "coding"), "code"), "other")
    if other is False:
        return True
    return bool(nav(top, "topic"))  # ({} and b) is empty when b, else false; (true and b) is b


def _cc_13(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    raw, top = _root(node, type_path)
    roles = pairs_of_type(_entry_resources(named(raw, top, "Bundle")), TYPES["PractitionerRole"])
    return bool(nav(nav(roles, "practitioner"), "reference"))


def _cc_15(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # iif(encounter.exists(), Communication.encounter.reference.exists(), Communication.encounter.exists().not())
    raw, top = _root(node, type_path)
    encounters = nav(named(raw, top, "Communication"), "encounter")
    if nav(top, "encounter"):
        return bool(nav(encounters, "reference"))
    return not encounters


_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.DOTALL)


def _uuid_value(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    top = _top(node, type_path)
    values = nav(top, "value")
    if not values:
        return True
    return _UUID.search(single_string(values)) is not None


def _resolved(items: list[Item], resource: Any, root: Any) -> list[Item]:
    """resolve() (hub.validate.fhirpath.resolution) on items, as items."""
    return [(node.data, node.path) for node in resolve([data for data, _ in items], resource, root)]


def _equal(left: list[Item], right: list[Item]) -> bool | None:
    """left = right, with fhirpathpy's equality on the nodes: None (empty) when either is empty."""
    if not left or not right:
        return None
    return bool(equality(None, [make_node(*item) for item in left], [make_node(*item) for item in right]))


def _or(a: bool | None, b: bool | None) -> bool | None:
    """or on booleans, None for the empty collection (fhirpathpy's or_op)."""
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _same_organisation(via: tuple[str, ...], header: tuple[str, ...]) -> Check:
    """cc-11 and cc-12: the Organization the Communication's sender (or recipient) resolves to, through its
    managingOrganization or organization, is the MessageHeader's sender (or receiver); or it has none:

    C.<via>.reference.resolve().managingOrganization.reference.resolve() = H.<header>.reference.resolve()
    or C.<via>.reference.resolve().organization.reference.resolve() = H.<header>.reference.resolve()
    or C.<via[0]>.exists().not()

    with C = Bundle.entry.resource.ofType(Communication), H = %resource.entry.resource.ofType(MessageHeader);
    held only when true (an expression with resolve())."""

    def native(node: Any, resource: Any, root: Any, type_path: str) -> bool:
        raw, top = _root(node, type_path)
        communications = _resources(named(raw, top, "Bundle"), "Communication")
        parties = communications
        for key in via:
            parties = nav(parties, key)
        parties = _resolved(nav(parties, "reference"), resource, root)
        own = [(resource, path_of(resource, None))] if resource is not None else []
        found = pairs_of_type(_entry_resources(own), TYPES["MessageHeader"])
        for key in header:
            found = nav(found, key)
        expected = _resolved(nav(found, "reference"), resource, root)
        managing = _resolved(nav(nav(parties, "managingOrganization"), "reference"), resource, root)
        organisation = _resolved(nav(nav(parties, "organization"), "reference"), resource, root)
        absent = not nav(communications, via[0])
        return _or(_or(_equal(managing, expected), _equal(organisation, expected)), absent) is True

    return native


_PRACTITIONER_EXTENSION = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-practitioner-extension"


def _extension(data: Any, url: str) -> Any:
    """fhirpathpy's extension(url) on one value: its first extension with that url, or None (and the same
    exceptions: every extension's url is read)."""
    if not isinstance(data, abc.Mapping):
        return None
    found = [e for e in data.get("extension", []) if e["url"] == url]
    return found[0] if found else None


def _cc_7(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # payload.extension(url).value.resolve().all(code.coding.code.exists() xor code.text.exists())
    top = _top(node, type_path)
    found = [_extension(data, _PRACTITIONER_EXTENSION) for data, _ in nav(top, "payload")]
    extensions = [(e, path_of(e, "Extension")) for e in found if e is not None]  # (a ResourceNode's path)
    roles = _resolved(nav(extensions, "value"), resource, root)
    for role in roles:
        codes = nav([role], "code")
        if bool(nav(nav(codes, "coding"), "code")) == bool(nav(codes, "text")):
            return False
    return True


def _cc_8(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # payload.where(extension(url).exists()).extension.value.reference.resolve().practitioner.resolve().name
    # .exists()
    top = _top(node, type_path)
    payloads = [item for item in nav(top, "payload") if _extension(item[0], _PRACTITIONER_EXTENSION) is not None]
    roles = _resolved(nav(nav(nav(payloads, "extension"), "value"), "reference"), resource, root)
    return bool(nav(_resolved(nav(roles, "practitioner"), resource, root), "name"))


def _not_home(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    # where(use = 'home').empty()
    top = _top(node, type_path)
    return not equals(nav(top, "use"), "home")


def _pat_1(node: Any, resource: Any, root: Any, type_path: str) -> bool:
    top = _top(node, type_path)
    return any(nav(top, key) for key in ("name", "telecom", "address", "organization"))


NATIVE: dict[str, Check] = {
    "entry.where(resource.is(Patient)).count() = 1": _count_is_one("Patient"),
    # (medcom-hospitalNotification-1 and -3, entry.ofType(T).all(resource...), are compiled as MedCom means them,
    # entry.resource.ofType(T).all(...) (tools/compile_schemas.py); memberOf() looks in the value set the compile
    # expanded, hub.validate.rules._user_functions)
    "entry.resource.ofType(Patient).identifier.system = 'urn:oid:1.2.208.176.1.2'": _hn_4,
    "Bundle.entry.resource.ofType(MessageHeader).destination.extension.value.code = 'primary'": _hn_5,
    "where(status = 'onleave').extension.value.start.exists() or status != 'onleave'": _hn_6,
    "entry[0].resource.ofType(MessageHeader).meta.profile.startsWith('http://medcomfhir.dk/ig/carecommunication/"
    "StructureDefinition/medcom-careCommunication-messageHeader')": _cc_1,
    "entry.resource.ofType(Provenance).all(meta.profile.startsWith('http://medcomfhir.dk/ig/carecommunication/"
    "StructureDefinition/medcom-careCommunication-provenance'))": _cc_3,
    "entry.resource.ofType(Practitioner).name.exists()": _cc_4,
    "where(category.coding.code != 'regarding-referral').priority.empty()": _cc_5,
    "iif(category.coding.code != 'other', true, category.coding.code = 'other' and topic.exists())": _cc_6,
    "Bundle.entry.resource.ofType(PractitionerRole).practitioner.reference.exists()": _cc_13,
    "iif(encounter.exists(), Communication.encounter.reference.exists(), Communication.encounter.exists().not())": (
        _cc_15
    ),
    "value.matches('urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')": _uuid_value,
    "where(use = 'home').empty()": _not_home,
    "name.exists() or telecom.exists() or address.exists() or organization.exists()": _pat_1,
    "payload.extension('http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-practitioner-extension')"
    ".value.resolve().all(code.coding.code.exists() xor code.text.exists())": _cc_7,
    "payload.where(extension('http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-practitioner-extension')"
    ".exists()).extension.value.reference.resolve().practitioner.resolve().name.exists()": _cc_8,
    "Bundle.entry.resource.ofType(Communication).extension.value.reference.resolve().managingOrganization.reference"
    ".resolve()\n        = %resource.entry.resource.ofType(MessageHeader).sender.reference.resolve()\n    or Bundle"
    ".entry.resource.ofType(Communication).extension.value.reference.resolve().organization.reference.resolve()\n"
    "        = %resource.entry.resource.ofType(MessageHeader).sender.reference.resolve()\n    or Bundle.entry"
    ".resource.ofType(Communication).extension.exists().not()": _same_organisation(("extension", "value"), ("sender",)),
    "Bundle.entry.resource.ofType(Communication).recipient.reference.resolve().managingOrganization.reference"
    ".resolve() = %resource.entry.resource.ofType(MessageHeader).destination.receiver.reference.resolve() or Bundle"
    ".entry.resource.ofType(Communication).recipient.reference.resolve().organization.reference.resolve() ="
    " %resource.entry.resource.ofType(MessageHeader).destination.receiver.reference.resolve() or Bundle.entry"
    ".resource.ofType(Communication).recipient.exists().not()": _same_organisation(
        ("recipient",), ("destination", "receiver")
    ),
}


def guarded(fn: Check) -> Check:
    """A native check that holds where it raises (where fhirpathpy raises, as rules._Fhirpath takes it)."""

    def check(node: Any, resource: Any, root: Any, type_path: str) -> bool:
        try:
            return fn(node, resource, root, type_path)
        except Exception:  # where fhirpathpy raises: not held against the content (as rules._Fhirpath)
            return True

    return check


def _digits(value: str, count: int) -> list[int] | None:
    """The first count characters as digits, as substring(i,1).toInteger() gives each; None (the empty collection,
    which holds) when one is missing or no digit."""
    head = value[:count]
    if len(head) < count or not all(c in "0123456789" for c in head):
        return None
    return [int(c) for c in head]


def _gs1_check_digit(value: str) -> bool:
    """dk-core's gln-modulus-10 on a string: the 13th digit is the GS1 check digit of the first twelve."""
    digits = _digits(value, 13)
    return digits is None or gln_check_digit(value[:12]) == digits[12]


def _cvr_modulus_11(value: str) -> bool:
    """dk-core's CVR-modulus-11 on a string: the eight digits weighted 2, 7, 6, 5, 4, 3, 2, 1 sum to a multiple of
    11."""
    digits = _digits(value, 8)
    return digits is None or sum(d * w for d, w in zip(digits, (2, 7, 6, 5, 4, 3, 2, 1), strict=True)) % 11 == 0


def _weighted(weights: tuple[int, ...]) -> str:
    return "+".join(f"(substring({i},1).toInteger()*{w})" for i, w in enumerate(weights))


# invariants on a string value spelled out here (hub.validate.fhirpath.compile_invariant compiles them for any other
# node): the expression without its whitespace -> the check of the string (dk-core's check digits, whose FHIRPath
# arithmetic costs about 200 us a value)
ON_STRINGS: dict[str, abc.Callable[[str], bool]] = {
    f"(((10-({_weighted((1, 3) * 6)})mod(10))mod(10))=substring(12,1).toInteger())": _gs1_check_digit,
    f"(({_weighted((2, 7, 6, 5, 4, 3, 2, 1))})mod(11)=0)": _cvr_modulus_11,
}
