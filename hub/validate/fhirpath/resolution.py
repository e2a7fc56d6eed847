"""FHIRPath's resolve() inside the Bundle under validation (fhirpathpy has no resolve()).

A reference (a Reference, or the string of its reference) resolves as FHIR R4 resolves references in Bundles
(bundle.html#references): ``#id`` to the resource of that id contained in the containing resource (``#`` to the
containing resource itself); an absolute reference (``urn:uuid:...``, ``https://...``) to the entry whose fullUrl
is that reference; a relative one (``Type/id``) first to the fullUrl made of the base of the containing entry's
RESTful fullUrl and the reference, then to an entry whose resource has that resourceType and id, or whose fullUrl
ends in ``/Type/id``. A version-specific reference (``.../_history/v``) resolves when the resource's
meta.versionId is v or absent. A reference that resolves to nothing gives the empty collection, not an error (an
unresolved reference is the messaging layer's finding, not an invariant's).

The Bundle is the one being validated: hub.validate.core.check_resource, hub.validate.profiles.check_profiles and
the Validator enter a BundleScope (within), whose index of the entries is built on the first resolve() of that
validation, once. Without a scope (a check called directly), %rootResource or %resource is the Bundle when it is
one. The containing resource of ``#id`` is %rootResource (the container of a contained resource), or %resource
where %rootResource is the Bundle (the profile checks pass the Bundle as the root).

Three entry points with the same result: resolve_fn, a function of the compiled closures' table (it reads
%resource and %rootResource from the ctx), resolve_user, the user function fhirpathpy calls without a ctx
(rules._Fhirpath enters evaluating(resource, root) around each evaluation of an expression that uses it), and
resolve itself (the native invariants). An expression that calls resolve() (follows_references) holds only when
it gives the single true, as the HL7 validator takes invariants (hub.validate.fhirpath.environment.checker).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from hub.validate.fhirpath.upstream import ResourceNode, make_node

_RESOLVE = re.compile(r"\bresolve\s*\(\s*\)")
_RELATIVE = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}")
_RESTFUL = re.compile(r"(.*/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")  # a fullUrl [base]/Type/id


class BundleScope:
    """The Bundle of one validation and its index of entries, built on the first look-up."""

    __slots__ = ("_absolute", "_bases", "_relative", "bundle")

    def __init__(self, bundle: Any) -> None:
        self.bundle = bundle
        self._absolute: dict[str, dict[str, Any]] | None = None  # fullUrl -> resource
        self._relative: dict[str, dict[str, Any]] = {}  # Type/id -> resource (resourceType + id, fullUrl tails)
        self._bases: dict[int, str] = {}  # id(resource) -> the base of its entry's RESTful fullUrl ([base]/Type/id)

    def _index(self) -> dict[str, dict[str, Any]]:
        absolute: dict[str, dict[str, Any]] = {}
        relative = self._relative
        entries = self.bundle.get("entry") if type(self.bundle) is dict else None
        for entry in entries if type(entries) is list else ():
            resource = entry.get("resource") if type(entry) is dict else None
            if type(resource) is not dict:
                continue
            full_url = entry.get("fullUrl")
            if type(full_url) is str:
                absolute.setdefault(full_url, resource)
                restful = _RESTFUL.fullmatch(full_url)
                if restful is not None:
                    self._bases[id(resource)] = restful.group(1)
                    relative.setdefault(f"{restful.group(2)}/{restful.group(3)}", resource)
            resource_type, resource_id = resource.get("resourceType"), resource.get("id")
            if type(resource_type) is str and type(resource_id) is str:
                relative.setdefault(f"{resource_type}/{resource_id}", resource)
        self._absolute = absolute
        return absolute

    def find(self, reference: str, container: Any) -> dict[str, Any] | None:
        """The entry's resource the reference (not a #fragment) names, as FHIR resolves it; None if none."""
        absolute = self._absolute if self._absolute is not None else self._index()
        version = None
        if "/_history/" in reference:
            reference, _, version = reference.partition("/_history/")
        found = absolute.get(reference)
        if found is None and _RELATIVE.fullmatch(reference):
            base = self._bases.get(id(container))
            if base is not None:
                found = absolute.get(base + reference)
            if found is None:
                found = self._relative.get(reference)
        if found is not None and version is not None:
            meta = found.get("meta")
            held = meta.get("versionId") if type(meta) is dict else None
            if held is not None and held != version:
                return None
        return found


_SCOPE: ContextVar[BundleScope | None] = ContextVar("fhirpath_bundle_scope", default=None)
# (%resource, %rootResource) of the fhirpathpy evaluation under way, for resolve_user
_EVALUATING: ContextVar[tuple[Any, Any] | None] = ContextVar("fhirpath_evaluating", default=None)


@contextmanager
def within(bundle: Any) -> Iterator[None]:
    """resolve() looks in this resource (when a Bundle) for the time of a validation; a scope already entered for
    the same Bundle is kept (with its index)."""
    current = _SCOPE.get()
    if current is not None and current.bundle is bundle:
        yield
        return
    is_bundle = type(bundle) is dict and bundle.get("resourceType") == "Bundle"
    token = _SCOPE.set(BundleScope(bundle) if is_bundle else None)
    try:
        yield
    finally:
        _SCOPE.reset(token)


@contextmanager
def evaluating(resource: Any, root: Any) -> Iterator[None]:
    """%resource and %rootResource for resolve_user, for the time of one fhirpathpy evaluation."""
    token = _EVALUATING.set((resource, root))
    try:
        yield
    finally:
        _EVALUATING.reset(token)


def follows_references(expression: str) -> bool:
    """The expression calls resolve() (its verdict is the HL7 validator's: only the single true holds)."""
    return _RESOLVE.search(expression) is not None


def _is_bundle(value: Any) -> bool:
    return type(value) is dict and value.get("resourceType") == "Bundle"


def resolve(inputs: list[Any], resource: Any, root: Any) -> list[Any]:
    """resolve() on a collection: per item (a Reference, or a reference string) the resource it names, as a
    ResourceNode; nothing for an item that resolves to nothing."""
    container = resource if root is None or _is_bundle(root) else root
    scope = _SCOPE.get()
    if scope is None:
        bundle = root if _is_bundle(root) else (resource if _is_bundle(resource) else None)
        scope = BundleScope(bundle) if bundle is not None else None
    found: list[Any] = []
    for item in inputs:
        data = item.data if isinstance(item, ResourceNode) else item
        reference = data.get("reference") if type(data) is dict else data
        if type(reference) is not str or not reference:
            continue
        target: Any = None
        if reference[0] == "#":
            target = _contained(container, reference[1:])
        elif scope is not None:
            target = scope.find(reference, container)
        if type(target) is dict:
            found.append(make_node(target, target.get("resourceType")))
    return found


def _contained(container: Any, fragment: str) -> Any:
    if type(container) is not dict:
        return None
    if not fragment:
        return container
    contained = container.get("contained")
    for item in contained if type(contained) is list else ():
        if type(item) is dict and item.get("id") == fragment:
            return item
    return None


def resolve_fn(ctx: dict[str, Any], inputs: list[Any]) -> list[Any]:
    """resolve() in the function table of the compiled closures: %resource and %rootResource from the ctx."""
    variables = ctx["vars"]
    return resolve(inputs, variables.get("resource"), variables.get("rootResource"))


def resolve_user(inputs: list[Any]) -> list[Any]:
    """resolve() as a user function of fhirpathpy (called without the ctx): within evaluating(...)."""
    here = _EVALUATING.get()
    resource, root = here if here is not None else (None, None)
    return resolve(inputs, resource, root)
