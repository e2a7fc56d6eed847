"""Profiles (MedCom and the hub's own): cardinality, fixed/pattern values, required bindings, slicing, invariants.

The compiled rules of a profile (tools/compile_schemas.py) are a list per element id (`MessageHeader.destination:
primary.extension:use.value[x].code`); prepare_profiles turns each profile into a tree of ProfileNodes that
check_profiles walks along the JSON. Which profiles apply: the Bundle's and MessageHeader's from the event code
(MessageDefinition event -> profile table), the focus's from the hub's MessageDefinitions, and every profile an
entry names in meta.profile that schemas/ defines.

An element whose type names a profile (``Organization.identifier:SOR-ID`` only dk-core's SOR identifier) is checked
against that profile for each value, its issues at the value's FHIRPath; a slice's discriminator may be decided by
such a type profile's values (``Organization.identifier`` by ``system``: SOR-ID holds the identifiers whose system is
the SOR identifier profile's). And every Identifier of a resource in the message whose ``system`` is the fixed
system of an identifier profile (SOR, CPR, GLN, LPR3, ...), or that is the value of an extension whose definition
names an identifier profile for it, is checked against that profile wherever it appears: each identifier once
per profile. Likewise every extension whose url is a definition the hub has (MedCom's) is checked against that
definition wherever it appears (``medcom-core-datetime-extension`` needs its valueDateTime).

Slices are matched by their slicing's discriminators where the profile gives each slice a fixed or pattern value
at every value/pattern discriminator's path (``Patient.name`` by ``use``: the slice ``official`` holds the items whose
``use`` is ``official``); otherwise by their values: an item belongs to a slice when it has every fixed/pattern value
the slice defines (and, for extension slices, the extension's url). A slice without such values (type-discriminated
slices) is not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hub.domain.outcome import Issue, Severity, error
from hub.validate import paths
from hub.validate.core import FoundIdentifier, keys
from hub.validate.fhirpath.resolution import resolve, within
from hub.validate.rules import PRIMITIVE, RESOURCE

# Rules that official MedCom material breaks where MedCom's own TestScripts expect the message to be accepted; they
# are reported as warnings. key: (profile url suffix, element id or invariant key) -> why.
DOWNGRADED: dict[tuple[str, str], str] = {
    ("medcom-acknowledgement-operationoutcome", "OperationOutcome.issue.details.coding"): (
        "The transient- and fatal-error fixtures of MedCom's acknowledgement TestScripts 2.0.0 (Bundle-32f3e314,"
        " Bundle-fd618b85; TestScript-acknowledgement-receive-*-error*, which expect them to be received: HTTP"
        " 200/201) code issue.details with message-development-error, a temporary code of"
        " medcom-acknowledgement-issue-details in terminology 1.1.1. Acknowledgement 2.0.3 binds the element"
        " (required) to that ValueSet in terminology 1.4.0, which no longer has the code."
    ),
}


@dataclass(slots=True)
class ProfileNode:
    id: str
    name: str  # the JSON property stem (value for value[x]); "" for the root
    choice: bool = False  # value[x]: any valueXxx property
    min: int = 0
    max: int = -1
    fixed: Any = None
    pattern: Any = None
    binding: str | None = None
    extensible: str | None = None  # an extensible binding's value set: a code outside it is a warning
    invariants: tuple[Any, ...] = ()
    extension_url: str | None = None  # an extension slice: the extension's url
    closed: bool = False  # slicing rules closed
    children: list[ProfileNode] = field(default_factory=list)
    slices: list[ProfileNode] = field(default_factory=list)
    has_values: bool = False  # the subtree has fixed/pattern values (slice membership is decidable)
    types: tuple[str, ...] = ()  # a choice element: the types the profile allows
    max_length: int | None = None  # a string's maxLength
    type_profiles: tuple[str, ...] = ()  # the profiles the element's type names (type.profile; not an extension's)
    type_roots: tuple[ProfileNode, ...] = ()  # their roots, where a discriminator's path goes on into them
    targets: tuple[str, ...] = ()  # a Reference: the profiles (type.targetProfile) of the resource it names
    discriminators: tuple[tuple[str, tuple[str, ...]], ...] = ()  # a sliced element: (type, path) per discriminator
    # a slice: (type, path, the slice's node at that path) per discriminator of its base, when each is decidable
    discriminated: tuple[tuple[str, tuple[str, ...], ProfileNode], ...] | None = None
    # a slice of References told apart by what they name (DiagnosticReport.performer:PractitionerRole): the
    # resource types of its targetProfiles, when no two slices of the element share one
    target_types: frozenset[str] = frozenset()


@dataclass(slots=True)
class Profile:
    url: str
    type: str
    root: ProfileNode
    ancestors: frozenset[str] = frozenset()  # the profiles it derives from (their rules are in its own)


def prepare_profiles(rules: Any, raw: dict[str, Any], invariant: Callable[[list[str]], Any]) -> dict[str, Any]:
    """url -> Profile, each a tree of the profile's rules."""
    out: dict[str, Any] = {}
    for url, spec in raw.items():
        root = ProfileNode(spec["type"], "")
        nodes: dict[str, ProfileNode] = {spec["type"]: root}
        for rule in sorted(spec["rules"], key=lambda r: r["id"].count(".")):
            rid = rule["id"]
            node = _node(nodes, rid)
            if node is None:
                continue
            node.min = rule.get("min", 0)
            node.max = rule.get("max", -1)
            node.fixed = rule.get("fixed")
            node.pattern = rule.get("pattern")
            node.binding = rule.get("binding") if rule.get("binding") in rules.valuesets else None
            node.extensible = rule.get("extensible") if rule.get("extensible") in rules.valuesets else None
            node.invariants = tuple(invariant(c) for c in rule.get("constraints", ()))
            slicing = rule.get("slicing")
            node.closed = bool(slicing) and slicing.get("rules") == "closed"
            if node.name == "extension" and rule.get("profiles") and ":" in rid.rsplit(".", 1)[-1]:
                node.extension_url = rule["profiles"][0].split("|")[0]  # a canonical's |version is no part of url
            node.types = tuple(rule.get("types", ()))
            node.max_length = rule.get("maxLength")
            if rule.get("profiles") and node.name not in ("extension", "modifierExtension"):
                node.type_profiles = tuple(url.split("|")[0] for url in rule["profiles"])
            node.targets = tuple(url.split("|")[0] for url in rule.get("targetProfiles", ()))
            if slicing:
                node.discriminators = _discriminator_paths(slicing)
        out[url] = Profile(url, spec["type"], root)
    for profile in out.values():
        _link_type_profiles(profile.root, out)
    for profile in out.values():
        _mark_values(profile.root)
    for profile in out.values():
        _mark_discriminated(profile.root)
        _mark_target_types(profile.root, raw)
    for url, profile in out.items():
        chain: set[str] = set()
        base = raw[url].get("base")
        while type(base) is str and base in raw and base not in chain:
            chain.add(base)
            base = raw[base].get("base")
        profile.ancestors = frozenset(chain)
    return out


def _node(nodes: dict[str, ProfileNode], rid: str) -> ProfileNode | None:
    """The node of the element id rid, made (with the elements above it that have no rules of their own: a
    compiled profile lists only the elements it constrains, ``Media.content.contentType`` without ``Media.content``)
    when new; None for an id that does not start at the profile's type."""
    node = nodes.get(rid)
    if node is not None:
        return node
    parent_id, _, last = rid.rpartition(".")
    if not parent_id:
        return None
    parent = _node(nodes, parent_id)
    if parent is None:
        return None
    name, _, slice_name = last.partition(":")
    if slice_name and name.endswith("[x]"):
        node = ProfileNode(rid, slice_name)  # value[x]:valueQuantity: the valueQuantity property
        parent.children.append(node)
    elif slice_name:
        base = _node(nodes, f"{parent_id}.{name}")
        if base is None:
            return None
        node = ProfileNode(rid, base.name, base.choice)
        base.slices.append(node)
    else:
        choice = name.endswith("[x]")
        node = ProfileNode(rid, name[:-3] if choice else name, choice)
        parent.children.append(node)
    nodes[rid] = node
    return node


def _link_type_profiles(node: ProfileNode, profiles: dict[str, Profile]) -> None:
    """Each node's type profiles narrowed to the compiled ones, with their roots (a profile of another type, or one
    schemas/ does not define, is left out)."""
    for child in (*node.children, *node.slices):
        if child.type_profiles:
            known = [profiles[url] for url in child.type_profiles if url in profiles]
            child.type_profiles = tuple(p.url for p in known)
            child.type_roots = tuple(p.root for p in known)
        _link_type_profiles(child, profiles)


def _discriminator_paths(slicing: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(type, element path) of a slicing's discriminators: value/pattern (``use``; ``identifier.system``) and type
    (``$this.content``: which content[x] an item has); none when one is a FHIRPath beyond a dotted path
    (``extension('...').value.code``) or of another type: then the slices are matched by their values."""
    out = []
    for discriminator in slicing.get("discriminator", ()):
        path = str(discriminator.get("path", "")).removeprefix("$this.")
        kind = discriminator.get("type")
        if kind == "pattern":
            kind = "value"
        if kind not in ("value", "type") or not path.replace(".", "").isalnum():
            return ()
        out.append((str(kind), tuple(path.split("."))))
    return tuple(out)


def _mark_discriminated(node: ProfileNode) -> None:
    for child in node.children:
        if child.discriminators:
            for piece in child.slices:
                found = [(kind, path, _at_path(piece, path, kind)) for kind, path in child.discriminators]
                if all(n is not None and _decides(kind, n) for kind, _, n in found):
                    piece.discriminated = tuple((kind, path, n) for kind, path, n in found if n is not None)
        _mark_discriminated(child)
        for piece in child.slices:
            _mark_discriminated(piece)


def _mark_target_types(node: ProfileNode, raw: dict[str, Any]) -> None:
    """Slices of References without values or discriminators, whose targetProfiles name resources of types no
    other slice of the element names: each holds the references to resources of its types."""
    for child in node.children:
        pieces = child.slices
        if pieces and all(p.targets and not p.has_values and p.discriminated is None for p in pieces):
            kinds = [frozenset(_target_type(url, raw) for url in p.targets) for p in pieces]
            if sum(len(k) for k in kinds) == len(frozenset().union(*kinds)):  # no type in two slices
                for piece, types in zip(pieces, kinds, strict=True):
                    piece.target_types = types
        _mark_target_types(child, raw)
        for piece in pieces:
            _mark_target_types(piece, raw)


def _target_type(url: str, raw: dict[str, Any]) -> str:
    """The resource type a target profile constrains (a core profile's url ends with the type)."""
    spec = raw.get(url)
    return str(spec["type"]) if spec is not None else url.rsplit("/", 1)[-1]


def _decides(kind: str, node: ProfileNode) -> bool:
    """The slice's node at a discriminator's path says which items belong: a value, or a choice's types."""
    if kind == "type":
        return node.choice and bool(node.types)
    return node.fixed is not None or node.pattern is not None


def _at_path(node: ProfileNode, path: tuple[str, ...], kind: str = "value") -> ProfileNode | None:
    """The node at a dotted path below node; where node has no such child, the child of its type profile's root
    (``Patient.identifier:cpr`` + ``system``: the CPR identifier profile's ``Identifier.system``)."""
    for n, step in enumerate(path):
        last = kind == "type" and n == len(path) - 1
        found = None
        for owner in (node, *node.type_roots):
            found = next((c for c in owner.children if c.name == step and (c.choice if last else not c.choice)), None)
            if found is not None:
                break
        if found is None:
            return None
        node = found
    return node


def _mark_values(node: ProfileNode) -> bool:
    found = node.fixed is not None or node.pattern is not None or node.extension_url is not None
    for child in node.children:
        found = _mark_values(child) or found
    for piece in node.slices:
        _mark_values(piece)
    node.has_values = found
    return found


# --- matching -----------------------------------------------------------------------------------------------


def _children(value: Any, node: ProfileNode) -> list[Any]:
    if type(value) is not dict:
        return []
    if node.choice:
        stem = node.name
        return [v for k, v in value.items() if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper()]
    found = value.get(node.name)
    if found is None:
        return []
    return found if type(found) is list else [found]


def _matches_pattern(value: Any, pattern: Any) -> bool:
    if type(pattern) is dict:
        return type(value) is dict and all(k in value and _matches_pattern(value[k], p) for k, p in pattern.items())
    if type(pattern) is list:
        return type(value) is list and all(any(_matches_pattern(v, p) for v in value) for p in pattern)
    return bool(value == pattern)


def _member(node: ProfileNode, value: Any) -> bool:
    """value belongs to the slice node: by its discriminators' values where the profile gives them, else when it has
    every fixed/pattern value of the slice's subtree (an extension slice: and its url)."""
    if node.discriminated is not None:
        return all(_discriminated_by(kind, path, at, value) for kind, path, at in node.discriminated)
    if node.target_types:
        return _names_a(node.target_types, value)
    if node.extension_url is not None and (type(value) is not dict or value.get("url") != node.extension_url):
        return False
    if node.fixed is not None and value != node.fixed:
        return False
    if node.pattern is not None and not _matches_pattern(value, node.pattern):
        return False
    for child in node.children:
        if not child.has_values:
            continue
        items = _children(value, child)
        if not items or not any(_member(child, item) for item in items):
            return False
    for piece in node.slices:
        if (
            (piece.has_values or piece.discriminated is not None)
            and piece.min > 0
            and not any(_member(piece, item) for item in _children(value, piece))
        ):
            return False
    return True


def _names_a(types: frozenset[str], reference: Any) -> bool:
    """The Reference names a resource of one of types: the one it resolves to in the Bundle under validation, or,
    when it resolves to none, the type its relative reference (Type/id) or its type element says."""
    found = resolve([reference], None, None)
    if found:
        return found[0].data.get("resourceType") in types
    if type(reference) is not dict:
        return False
    text, kind = reference.get("reference"), reference.get("type")
    if type(text) is str and "/" in text and not text.startswith(("urn:", "#")):
        return text.rsplit("/", 2)[-2] in types
    return kind in types


def _discriminated_by(kind: str, path: tuple[str, ...], at: ProfileNode, value: Any) -> bool:
    if kind == "type":  # one of the choice's properties (contentAttachment) for one of the slice's types
        names = {at.name + t[0].upper() + t[1:] for t in at.types}
        return any(type(v) is dict and not names.isdisjoint(v) for v in _values_at(value, path[:-1]))
    return any(_holds(at, v) for v in _values_at(value, path))


def _holds(node: ProfileNode, value: Any) -> bool:
    if node.fixed is not None:
        return bool(value == node.fixed)
    return _matches_pattern(value, node.pattern)


def _values_at(value: Any, path: tuple[str, ...]) -> list[Any]:
    """The values at a dotted element path below value (lists flattened)."""
    found = [value]
    for step in path:
        found = [
            item
            for v in found
            if type(v) is dict and step in v
            for item in (v[step] if type(v[step]) is list else [v[step]])
        ]
    return found


# --- checking -----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Run:
    rules: Any
    profile: Profile
    resource: dict[str, Any]
    root: dict[str, Any]
    issues: list[Issue]
    # (Reference, its targetProfiles, the resource holding it) met on the way: what they name is checked next
    references: list[tuple[dict[str, Any], tuple[str, ...], dict[str, Any]]] = field(default_factory=list)
    # (type profile url, id(value)) checked in this message: each value is checked against each profile once
    checked: set[tuple[str, int]] = field(default_factory=set)

    def report(self, code: str, where: str, text: str, key: str) -> None:
        reason = DOWNGRADED.get((self.profile.url.rsplit("/", 1)[-1], key))
        name = self.profile.url.rsplit("/", 1)[-1]
        diagnostics = f"{text} (profile {name})"
        if reason is not None:
            self.issues.append(Issue(Severity.WARNING, code, where, diagnostics))
        else:
            self.issues.append(error(code, where, diagnostics))


def _in_valueset(rules: Any, url: str, value: Any) -> bool | None:
    codes, pairs = rules.valuesets[url]
    if type(value) is str:
        return value in codes
    if type(value) is not dict:
        return None
    if "coding" in value:
        codings = (
            [c for c in value["coding"] if type(c) is dict and "code" in c] if type(value["coding"]) is list else []
        )
        return None if not codings else any(_pair(c) in pairs for c in codings)
    if "code" in value:
        return _pair(value) in pairs
    return None


def _pair(coding: dict[str, Any]) -> tuple[Any, Any]:
    """(system, code) of a Coding, a non-string part as None (a JSON list or object is no key of a value set)."""
    system, code = coding.get("system"), coding.get("code")
    return (system if type(system) is str else None, code if type(code) is str else None)


def _check_values(
    run: _Run, node: ProfileNode, values: list[Any], where: Where, type_name: str, is_list: bool = False
) -> None:
    count = len(values)
    if node.min and count < node.min:
        run.report(
            "required", _spell(where), f"{node.id} has {count} items; the profile requires at least {node.min}", node.id
        )
    if node.max >= 0 and count > node.max:
        run.report(
            "structure", _spell(where), f"{node.id} has {count} items; the profile allows at most {node.max}", node.id
        )
    if count and _per_value(node):
        _check_each(run, node, values, where, type_name, is_list)


def _check_each(run: _Run, node: ProfileNode, values: list[Any], where: Where, type_name: str, is_list: bool) -> None:
    """The rules of node on each value (fixed, pattern, binding, invariants) and its children's rules."""
    fixed, pattern, binding = node.fixed, node.pattern, node.binding
    for i, value in enumerate(values):
        at: Where = (where, i) if is_list else where
        if fixed is not None and value != fixed:
            run.report("value", _spell(at), f"{node.id} must be {_shown(fixed)}", node.id)
        elif pattern is not None and not _matches_pattern(value, pattern):
            run.report("value", _spell(at), f"{node.id} must match the pattern {_shown(pattern)}", node.id)
        if binding is not None and _in_valueset(run.rules, binding, value) is False:
            run.report("code-invalid", _spell(at), f"{node.id} is not in the required value set {binding}", node.id)
        if node.extensible is not None and _in_valueset(run.rules, node.extensible, value) is False:
            name = run.profile.url.rsplit("/", 1)[-1]
            text = f"{node.id} is not in the extensible value set {node.extensible} (profile {name})"
            run.issues.append(Issue(Severity.WARNING, "code-invalid", _spell(at), text))
        if type(value) is not dict:
            if type(value) is str:
                _check_string(run, node, value, at, type_name)
            elif node.invariants:  # a primitive's too
                _check_invariants(run, node, value, at, type_name)
            continue
        if node.targets:
            run.references.append((value, node.targets, run.resource))
        _check_invariants(run, node, value, at, type_name)
        for url in node.type_profiles:
            check_type_profile(run, url, value, at)
        for child in node.children:
            if child.choice:
                items = _children(value, child)
            else:
                found = value.get(child.name)
                items = [] if found is None else (found if type(found) is list else [found])
            if not items and not (child.min or any(piece.min for piece in child.slices)):
                continue  # absent, and nothing requires it: nothing to check
            child_at = (at, _child_key(child, value))
            count = len(items)
            if child.min and count < child.min:
                run.report(
                    "required",
                    _spell(child_at),
                    f"{child.id} has {count} items; the profile requires at least {child.min}",
                    child.id,
                )
            if child.max >= 0 and count > child.max:
                run.report(
                    "structure",
                    _spell(child_at),
                    f"{child.id} has {count} items; the profile allows at most {child.max}",
                    child.id,
                )
            if (count and _per_value(child)) or child.slices:
                child_type, child_list = _type_of(run.rules, type_name, child)
                if count and _per_value(child):
                    _check_each(run, child, items, child_at, child_type, child_list)
                if child.slices:
                    _check_slices(run, child, items, child_at, child_type, child_list)


def _check_string(run: _Run, node: ProfileNode, value: str, at: Where, type_name: str) -> None:
    """A string value's maxLength and invariants (an identifier's value: SOR's min-digits-sor). The value is never
    quoted: it may be a CPR number."""
    if node.max_length is not None and len(value) > node.max_length:
        text = f"{node.id} has {len(value)} characters; the profile allows at most {node.max_length}"
        run.report("value", _spell(at), text, node.id)
    if node.invariants:
        _check_invariants(run, node, value, at, type_name)


def _check_invariants(run: _Run, node: ProfileNode, value: Any, at: Where, type_name: str) -> None:
    """An issue per invariant of node that does not hold on value (a warning when not an error, or DOWNGRADED)."""
    for inv in node.invariants:
        if inv.check is None:
            continue
        if not inv.check(value, run.resource, run.root, type_name):
            downgraded = (run.profile.url.rsplit("/", 1)[-1], inv.key) in DOWNGRADED
            severity = Severity.WARNING if inv.severity != "error" or downgraded else Severity.ERROR
            run.issues.append(Issue(severity, "invariant", _spell(at), f"{inv.key}: {inv.human}"))


def check_type_profile(run: _Run, url: str, value: dict[str, Any], at: Where) -> None:
    """The rules of the type profile url on one value (an Identifier, an Extension), at its path; nothing when this
    value was already checked against url in this message (by a slice's type, by its system, or by an extension)."""
    key = (url, id(value))
    if key in run.checked:
        return
    run.checked.add(key)
    profile = run.rules.profiles[url]
    inner = _Run(run.rules, profile, run.resource, run.root, run.issues, run.references, run.checked)
    _check_values(inner, profile.root, [value], at, profile.type)


def _per_value(node: ProfileNode) -> bool:
    """The node has rules for each value (or children with rules)."""
    return bool(
        node.max_length is not None
        or node.type_profiles
        or node.fixed is not None
        or node.pattern is not None
        or node.binding is not None
        or node.extensible is not None
        or node.targets
        or node.invariants
        or node.children
    )


def _check_slices(run: _Run, node: ProfileNode, items: list[Any], where: Where, type_name: str, is_list: bool) -> None:
    decidable = [
        piece for piece in node.slices if piece.has_values or piece.discriminated is not None or piece.target_types
    ]
    if len(decidable) != len(node.slices):
        return  # a slice without values: membership cannot be decided here
    claimed: set[int] = set()
    for piece in decidable:
        members = [(i, item) for i, item in enumerate(items) if _member(piece, item)]
        claimed.update(i for i, _ in members)
        if piece.min and len(members) < piece.min and (items or not node.min):  # (none at all: said for node)
            run.report(
                "required",
                _spell(where),
                f"the slice {piece.id} needs at least {piece.min} items; found {len(members)}",
                piece.id,
            )
        if piece.max >= 0 and len(members) > piece.max:
            run.report(
                "structure",
                _spell(where),
                f"the slice {piece.id} allows at most {piece.max} items; found {len(members)}",
                piece.id,
            )
        if members:
            checked = _member_node(piece)
            for i, item in members:
                _check_values(run, checked, [item], (where, i) if is_list else where, type_name)
    if node.closed:
        for i, _ in enumerate(items):
            if i not in claimed:
                run.report(
                    "structure",
                    _spell((where, i)),
                    f"this item matches no slice of {node.id} (closed slicing)",
                    node.id,
                )


# A path, spelled only for an issue: a FHIRPath (the resource's), or (the parent's path, JSON key or array index);
# None is the Bundle (the root of the paths of hub.validate.core, whose walk finds the message's Identifiers)
Where = str | tuple[Any, str | int] | None


def _spell(where: Where) -> str:
    steps: list[str | int] = []
    while where is not None and not isinstance(where, str):
        where, step = where
        steps.append(step)
    spelled: str = "Bundle" if where is None else where
    for step in reversed(steps):
        spelled = paths.item(spelled, step) if type(step) is int else paths.child(spelled, step)  # type: ignore[arg-type]
    return spelled


def _child_key(child: ProfileNode, value: dict[str, Any]) -> str:
    if child.choice:
        stem = child.name
        # absent: the choice element by its FHIRPath name (Extension.value)
        return next((k for k in value if k.startswith(stem) and k[len(stem) : len(stem) + 1].isupper()), stem)
    return child.name


_MEMBER_NODES: dict[int, tuple[ProfileNode, ProfileNode]] = {}


def _member_node(piece: ProfileNode) -> ProfileNode:
    """The slice's rules for one member (its values and children, not its counts), made once per slice."""
    found = _MEMBER_NODES.get(id(piece))
    if found is None or found[0] is not piece:
        checked = ProfileNode(
            piece.id,
            piece.name,
            piece.choice,
            fixed=piece.fixed,
            pattern=piece.pattern,
            binding=piece.binding,
            extensible=piece.extensible,
            invariants=piece.invariants,
            children=piece.children,
            max_length=piece.max_length,
            type_profiles=piece.type_profiles,
            type_roots=piece.type_roots,
        )
        found = _MEMBER_NODES[id(piece)] = (piece, checked)
    return found[1]


_TYPES: dict[tuple[int, str, str], tuple[Any, tuple[str, bool]]] = {}


def _type_of(rules: Any, type_name: str, child: ProfileNode) -> tuple[str, bool]:
    """The core type of a child element and whether it repeats (memoised per rules)."""
    key = (id(rules.types), type_name, child.name)
    memo = _TYPES.get(key)
    if memo is not None and memo[0] is rules.types:
        return memo[1]
    rule = rules.types.get(type_name)
    element = rule.elements.get(child.name) if rule is not None else None
    found = (type_name, False) if element is None else (element.type, element.is_list)
    if len(_TYPES) < 10_000:
        _TYPES[key] = (rules.types, found)
    return found


def _shown(value: Any) -> str:
    import orjson

    text = orjson.dumps(value).decode()
    return text if len(text) <= 120 else text[:117] + "..."


def profiles_for(rules: Any, bundle: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(profile url, FHIRPath of the resource, resource) for each profile that applies, each pair once."""
    known = rules.profiles
    out: list[tuple[str, str, dict[str, Any]]] = []
    seen: set[tuple[str, int]] = set()

    def add(url: Any, where: str, resource: dict[str, Any]) -> None:
        if type(url) is not str:
            return
        url = url.split("|")[0]
        if url in known and known[url].type == resource.get("resourceType") and (url, id(resource)) not in seen:
            seen.add((url, id(resource)))
            out.append((url, where, resource))

    entries = bundle.get("entry")
    entries = entries if type(entries) is list else []
    resources = [
        (i, e["resource"]) for i, e in enumerate(entries) if type(e) is dict and type(e.get("resource")) is dict
    ]
    header = resources[0][1] if resources and resources[0][0] == 0 else None
    coding = header.get("eventCoding") if header is not None else None
    code = coding.get("code") if type(coding) is dict else None
    event = rules.events.get(code) if type(code) is str else None
    if event is not None:
        add(event["bundle"], "Bundle", bundle)
        if header is not None:
            add(event["header"], "Bundle.entry[0].resource", header)
        listed = header.get("focus") if header else None
        focus = [f.get("reference") for f in listed if type(f) is dict] if type(listed) is list else []
        for i, resource in resources:
            if f"{resource.get('resourceType')}/{resource.get('id')}" in focus:
                for url in event.get("focus", ()):
                    add(url, f"Bundle.entry[{i}].resource", resource)
    for url in _meta_profiles(bundle):
        add(url, "Bundle", bundle)
    for i, resource in resources:
        for url in _meta_profiles(resource):
            add(url, f"Bundle.entry[{i}].resource", resource)
    return out


def _meta_profiles(resource: dict[str, Any]) -> list[Any]:
    meta = resource.get("meta")
    listed = meta.get("profile") if type(meta) is dict else None
    return listed if type(listed) is list else []


def check_profiles(rules: Any, bundle: dict[str, Any], identifiers: list[FoundIdentifier] | None = None) -> list[Issue]:
    """The issues of every profile that applies to the message (see profiles_for), and of the profiles a checked
    reference names for what it refers to (type.targetProfile: MessageHeader.sender is a MedCom messaging
    organisation, whatever that Organization's meta.profile says), followed through the entries of the Bundle; then
    of the identifier profiles on every Identifier of the message (check_identifiers). identifiers: the Identifiers
    the structure walk met (hub.validate.core.check_resource), else they are found here."""
    issues: list[Issue] = []
    typed: set[tuple[str, int]] = set()  # (type profile, id(value)) checked: by slice type, system or extension
    with within(bundle):  # resolve() in an invariant looks in the Bundle
        pending = profiles_for(rules, bundle)
        checked = {(url, id(resource)) for url, _, resource in pending}
        # a profile a checked one derives from says nothing more about that resource
        checked.update((base, id(r)) for url, _, r in pending for base in rules.profiles[url].ancestors)
        places: dict[int, str] | None = None
        while pending:
            references: list[tuple[dict[str, Any], tuple[str, ...], dict[str, Any]]] = []
            for url, where, resource in pending:
                profile = rules.profiles[url]
                run = _Run(rules, profile, resource, bundle, issues, checked=typed)
                _check_values(run, profile.root, [resource], where, profile.type)
                references.extend(run.references)
            pending = []
            for reference, targets, holder in references:
                for node in resolve([reference], holder, bundle):
                    target = node.data
                    if places is None:
                        places = _entry_places(bundle)
                    place = places.get(id(target))
                    for url in targets:
                        profile = rules.profiles.get(url)
                        if (
                            place is not None
                            and profile is not None
                            and profile.type == target.get("resourceType")
                            and (url, id(target)) not in checked
                        ):
                            checked.add((url, id(target)))
                            checked.update((base, id(target)) for base in profile.ancestors)
                            pending.append((url, place, target))
        found = _identifiers_in(rules, bundle) if identifiers is None else identifiers
        check_identifiers(rules, bundle, found, issues, typed)
    return issues


# --- identifiers wherever they appear -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdentifierProfiles:
    """The identifier profiles that apply to an Identifier by what it is: by its system (the profile's fixed or
    pattern Identifier.system: urn:oid:1.2.208.176.1.1 -> dk-core's SOR identifier), or as the value of an extension
    (the extension's url -> the profiles its definition names for valueIdentifier)."""

    by_system: dict[str, tuple[str, ...]]
    by_extension: dict[str, tuple[str, ...]]
    # url -> the quick test that an Identifier meets every rule of that profile (Accepts), for the simple ones
    accepts: dict[str, Accepts]


# (the Identifier, the resource holding it, the Bundle) -> it meets every rule of the profile; False: the profile's
# checks say why (or that it holds after all)
Accepts = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], bool]
# per element of a simple identifier profile: name, min, fixed string, maxLength, invariants, the element's type
_Simple = tuple[str, int, str | None, int | None, tuple[Any, ...], str]


def _simple_elements(rules: Any, profile: Profile) -> list[_Simple] | None:
    """The elements of an identifier profile whose rules are only counts of at most one, a fixed string, a
    maxLength and compiled invariants, each on a primitive element (dk-core's SOR, CPR, GLN, ...); else None."""
    root = profile.root
    if root.fixed is not None or root.pattern is not None or root.invariants or root.slices or root.type_profiles:
        return None
    out: list[_Simple] = []
    for child in root.children:
        type_name, is_list = _type_of(rules, profile.type, child)
        rules_type = rules.types.get(type_name)
        if (
            child.choice
            or child.children
            or child.slices
            or child.type_profiles
            or child.targets
            or child.binding is not None
            or child.extensible is not None
            or child.pattern is not None
            or (child.fixed is not None and type(child.fixed) is not str)
            or is_list
            or child.max == 0
            or rules_type is None
            or rules_type.kind != "primitive-type"
            or any(inv.check is None for inv in child.invariants)
        ):
            return None
        out.append((child.name, child.min, child.fixed, child.max_length, child.invariants, type_name))
    return out


def _accepts(elements: list[_Simple]) -> Accepts:
    """The quick test of a simple identifier profile (see _simple_elements): each element absent (when not
    required) or a string meeting its fixed value, maxLength and invariants."""

    def accepts(identifier: dict[str, Any], resource: dict[str, Any], root: dict[str, Any]) -> bool:
        for name, low, fixed, max_length, invariants, type_name in elements:
            value = identifier.get(name)
            if value is None:
                if low:
                    return False
                continue
            if type(value) is not str or (fixed is not None and value != fixed):
                return False
            if max_length is not None and len(value) > max_length:
                return False
            for inv in invariants:
                if not inv.check(value, resource, root, type_name):
                    return False
        return True

    return accepts


_IDENTIFIER_PROFILES: dict[int, tuple[Any, IdentifierProfiles]] = {}


def identifier_profiles(rules: Any) -> IdentifierProfiles:
    """The IdentifierProfiles of the compiled profiles, made once per rules."""
    found = _IDENTIFIER_PROFILES.get(id(rules.profiles))
    if found is not None and found[0] is rules.profiles:
        return found[1]
    by_system: dict[str, list[str]] = {}
    by_extension: dict[str, list[str]] = {}
    accepts: dict[str, Accepts] = {}
    for url, profile in sorted(rules.profiles.items()):
        if profile.type == "Identifier":
            simple = _simple_elements(rules, profile)
            if simple is not None:
                accepts[url] = _accepts(simple)
            system = _at_path(profile.root, ("system",))
            fixed = None if system is None else (system.fixed if system.fixed is not None else system.pattern)
            if type(fixed) is str:
                by_system.setdefault(fixed, []).append(url)
        elif profile.type == "Extension":
            value = next((c for c in profile.root.children if c.name == "valueIdentifier"), None)
            if value is not None and value.type_profiles:
                by_extension.setdefault(url, []).extend(value.type_profiles)
    made = IdentifierProfiles(
        {k: tuple(v) for k, v in by_system.items()}, {k: tuple(v) for k, v in by_extension.items()}, accepts
    )
    _IDENTIFIER_PROFILES.clear()
    _IDENTIFIER_PROFILES[id(rules.profiles)] = (rules.profiles, made)
    return made


def check_identifiers(
    rules: Any,
    bundle: dict[str, Any],
    found: list[FoundIdentifier],
    issues: list[Issue],
    checked: set[tuple[str, int]],
) -> None:
    """Each Identifier found in the message (of the Bundle and of each resource in it, contained ones and extensions
    included) against the identifier profiles its system names, and those its extension's definition names when it
    is an extension's valueIdentifier; a value already checked against a profile (as a slice's type) is not checked
    against it again."""
    known = identifier_profiles(rules)
    by_system, by_extension = known.by_system, known.by_extension
    profiles = rules.profiles
    for identifier, parts, resource in found:
        url = identifier.get("url")
        if type(url) is str:  # an Extension (an Identifier has no url): its definition, where the hub has it
            definition = profiles.get(url)
            if definition is not None and definition.type == "Extension":
                run = _Run(rules, definition, resource, bundle, issues, checked=checked)
                check_type_profile(run, url, identifier, parts)
            continue
        system = identifier.get("system")
        urls = by_system.get(system, ()) if type(system) is str else ()
        if by_extension and parts is not None and parts[1] == "valueIdentifier":
            url = _extension_url(bundle, parts[0])
            urls = (*urls, *by_extension.get(url, ())) if url is not None else urls
        if not urls:
            continue
        for url in urls:
            accepts = known.accepts.get(url)
            if accepts is not None and (url, id(identifier)) not in checked and accepts(identifier, resource, bundle):
                checked.add((url, id(identifier)))  # (it meets every rule: nothing to say)
                continue
            run = _Run(rules, rules.profiles[url], resource, bundle, issues, checked=checked)
            check_type_profile(run, url, identifier, parts)


def _extension_url(bundle: dict[str, Any], parts: Any) -> str | None:
    """The url of the extension at a path of the Bundle (None when it is no object with a string url)."""
    at: Any = bundle
    for key in keys(parts):
        at = at[key] if type(at) in (dict, list) else None
    url = at.get("url") if type(at) is dict else None
    return url if type(url) is str else None


def _identifiers_in(rules: Any, bundle: dict[str, Any]) -> list[FoundIdentifier]:
    """The Identifier-typed values under the Bundle, found by the R4 types of the elements on the way (a Coding
    with an identifier's system is no Identifier), resources by their resourceType: what the structure walk
    collects (hub.validate.core), for a caller that did not run it."""
    found: list[FoundIdentifier] = []
    bundle_type = rules.types.get("Bundle")
    if bundle_type is None:
        return found
    stack: list[tuple[dict[str, Any], Any, Any, dict[str, Any]]] = [(bundle, bundle_type, None, bundle)]
    types = rules.types
    while stack:
        obj, type_rule, parts, resource = stack.pop()
        if type_rule.name in ("Identifier", "Extension"):
            found.append((obj, parts, resource))
        get_rule = type_rule.elements.get
        for key, value in obj.items():
            rule = get_rule(key)
            if rule is None or rule.kind == PRIMITIVE:
                continue
            listed = type(value) is list
            for i, item in enumerate(value if listed else (value,)):
                if type(item) is not dict:
                    continue
                at = ((parts, key), i) if listed else (parts, key)
                if rule.kind == RESOURCE:
                    kind = item.get("resourceType")
                    child = types.get(kind) if type(kind) is str else None
                    if child is not None:
                        stack.append((item, child, at, item))
                elif rule.target is not None:
                    stack.append((item, rule.target, at, resource))
    return found


def _entry_places(bundle: dict[str, Any]) -> dict[int, str]:
    """id(resource) -> its FHIRPath, for each entry's resource."""
    entries = bundle.get("entry")
    return {
        id(e["resource"]): f"Bundle.entry[{i}].resource"
        for i, e in enumerate(entries if type(entries) is list else ())
        if type(e) is dict and type(e.get("resource")) is dict
    }


def check_profile(rules: Any, url: str, resource: dict[str, Any], where: str) -> list[Issue]:
    """The issues of the one profile url (a key of rules.profiles) on one resource whose FHIRPath is where: the
    resource is its own %rootResource, and resolve() looks in it (its contained resources; a Bundle's entries)."""
    issues: list[Issue] = []
    profile = rules.profiles[url]
    with within(resource):
        _check_values(_Run(rules, profile, resource, resource, issues), profile.root, [resource], where, profile.type)
    return issues
