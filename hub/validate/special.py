"""The checks beyond the FHIR definitions that the walker (hub.validate.core) runs on an object of a few types.

TypeRule.special names them (prepared by load_rules): an Extension (ext-1, a known url, its value types), a Bundle
(fullUrl absolute, unique and consistent with the resource id, the first entry of a message or document, the
references of a document, link relations), Parameters (Type/id references resolve inside it, when asked), a
Narrative (no active content in the XHTML) and an Attachment (size agrees with the data).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from hub.validate.rules import BUNDLE, EXTENSION, NARRATIVE, PARAMETERS, quote

if TYPE_CHECKING:
    from hub.validate.core import Path_, Walk

_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
_RESTFUL = re.compile(r"https?://\S+/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})")
_RELATIVE = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}")
_VERSIONED = re.compile(r"([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?")
_XHTML_BAD = re.compile(r"<(script|iframe|object|embed|form|input|style|link|meta|base|applet)\b", re.IGNORECASE)
_XHTML_ENTITY = re.compile(r"&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)[A-Za-z0-9]+;")
# extension namespaces whose definitions are not all in schemas/: an unknown extension there is accepted
_OPEN_EXTENSION_DOMAINS = ("http://hl7.dk/", "https://hl7.dk/", "http://medcomfhir.dk/", "http://sektorhub.dk/")
_CORE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/"


def check_special(walk: Walk, obj: dict[str, Any], special: int, parts: Path_) -> None:
    """The check of TypeRule.special (not NO_SPECIAL) on obj, an object of that type at parts."""
    if special == EXTENSION:
        _check_extension(walk, obj, parts)
    elif special == BUNDLE:
        check_bundle(walk, obj, parts)
    elif special == PARAMETERS:
        if walk.options.resolve_references:
            _check_parameters_references(walk, obj, parts)
    elif special == NARRATIVE:
        div = obj.get("div")
        if isinstance(div, str):
            _check_xhtml(walk, div, (parts, "div"))
    else:
        _check_attachment(walk, obj, parts)


# --- Extension ------------------------------------------------------------------------------------------------


def _check_extension(walk: Walk, obj: dict[str, Any], parts: Path_) -> None:
    present = [k for k in obj if k.startswith("value")]
    if present and "extension" in obj:
        walk.err("invariant", parts, "an extension has either a value or extensions, not both (ext-1)")
    url = obj.get("url")
    if not isinstance(url, str):
        return
    if "|" in url:
        walk.err("value", (parts, "url"), f"an extension url carries no version: {quote(url, 80)}")
        return
    extensions = walk.rules.extensions
    if url not in extensions:
        _check_unknown_extension(walk, url, parts)
        return
    allowed = extensions[url]
    if allowed is None:
        return
    if present and not allowed:
        walk.err("structure", (parts, present[0]), f"the extension {quote(url, 100)} has no value, only extensions")
    elif present and present[0] not in allowed:
        walk.err(
            "structure",
            (parts, present[0]),
            f"the extension {quote(url, 100)} does not allow {present[0]}; allowed: {', '.join(allowed[:6])}",
        )


def _check_unknown_extension(walk: Walk, url: str, parts: Path_) -> None:
    """An extension whose url has no definition in schemas/: allowed, noted or refused by where it is from."""
    if _is_sub_extension(parts):
        return  # a part of a complex extension: its url is a local name
    if "://" not in url:
        return
    if url.startswith(_OPEN_EXTENSION_DOMAINS):
        walk.warn(
            "not-supported",
            parts,
            f"the extension {quote(url, 100)} has no definition in schemas/; its content is not checked",
        )
        return
    if not walk.strict_extensions and not url.startswith(_CORE_EXTENSION):
        return
    walk.err("structure", parts, f"the extension {quote(url, 100)} is not known, so it is not allowed here")


def _is_sub_extension(parts: Path_) -> bool:
    # Patient.extension[0].extension[1]: the inner one belongs to a complex extension
    if parts is None or not isinstance(parts[1], int):
        return False
    inner = parts[0]  # ... extension
    if inner is None or inner[1] != "extension":
        return False
    outer = inner[0]  # ... extension[0]
    return outer is not None and outer[0] is not None and outer[0][1] == "extension"


# --- Narrative and Attachment ---------------------------------------------------------------------------------


def _check_xhtml(walk: Walk, div: str, parts: Path_) -> None:
    bad = _XHTML_BAD.search(div)
    if bad:
        walk.err("value", parts, f"the narrative XHTML may not contain <{bad.group(1).lower()}> (txt-1)")
    entity = _XHTML_ENTITY.search(div)
    if entity:
        walk.err("value", parts, f"the narrative XHTML uses the entity {entity.group(0)}, which XHTML does not define")
    if re.search(r"\son\w+\s*=", div[:100_000]):
        walk.err("value", parts, "the narrative XHTML may not carry event handler attributes (txt-1)")


def _check_attachment(walk: Walk, obj: dict[str, Any], parts: Path_) -> None:
    data, size = obj.get("data"), obj.get("size")
    if isinstance(data, str) and type(size) is int:
        stripped = re.sub(r"\s+", "", data)
        actual = len(stripped) * 3 // 4 - stripped[-2:].count("=")
        if actual != size:
            walk.err("value", parts, f"the attachment states size {size}, but its data is {actual} bytes")


# --- references inside Parameters and documents ---------------------------------------------------------------


def _check_parameters_references(walk: Walk, params: dict[str, Any], parts: Path_) -> None:
    known = set()
    for p in params.get("parameter") or ():
        res = p.get("resource") if isinstance(p, dict) else None
        if isinstance(res, dict):
            known.add(f"{res.get('resourceType')}/{res.get('id')}")
    for i, p in enumerate(params.get("parameter") or ()):
        res = p.get("resource") if isinstance(p, dict) else None
        if not isinstance(res, dict):
            continue
        for sub, ref in _relative_references(res, (((parts, "parameter"), i), "resource")):
            if ref not in known:
                walk.err("not-found", sub, f"the reference {quote(ref, 80)} resolves to no resource here")


def _relative_references(value: Any, parts: Path_, pattern: re.Pattern[str] = _RELATIVE) -> list[tuple[Path_, str]]:
    found: list[tuple[Path_, str]] = []
    todo: list[tuple[Any, Path_]] = [(value, parts)]
    while todo:
        current, at = todo.pop()
        if isinstance(current, dict):
            ref = current.get("reference")
            if isinstance(ref, str) and pattern.fullmatch(ref):
                found.append((at, ref))
            todo.extend((v, (at, k)) for k, v in current.items() if isinstance(v, dict | list) and k != "contained")
        elif isinstance(current, list):
            todo.extend((v, (at, i)) for i, v in enumerate(current) if isinstance(v, dict | list))
    return found


def _check_document_references(walk: Walk, entries: list[Any], parts: Path_) -> None:
    """In a document, a Type/id reference names exactly one entry (and that version, when it gives one)."""
    versions: dict[str, list[Any]] = {}
    for entry in entries:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict):
            meta = res.get("meta")
            versions.setdefault(f"{res.get('resourceType')}/{res.get('id')}", []).append(
                meta.get("versionId") if isinstance(meta, dict) else None
            )
    for i, entry in enumerate(entries):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            continue
        for at, ref in _relative_references(res, (((parts, "entry"), i), "resource"), _VERSIONED):
            m = _VERSIONED.fullmatch(ref)
            if m is None:
                continue
            found = versions.get(m.group(1), [])
            if m.group(2) is not None:
                if m.group(2) not in found:
                    walk.err("not-found", at, f"the reference {quote(ref, 80)} names no entry of the document")
            elif len(found) > 1:
                walk.err("invalid", at, f"the reference {quote(ref, 80)} matches {len(found)} entries of the document")


# --- Bundle ---------------------------------------------------------------------------------------------------


def check_bundle(walk: Walk, bundle: dict[str, Any], parts: Path_) -> None:
    """fullUrl absolute and unique (bdl-7), consistent with the resource id; message/document first entries."""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        entries = []
    kind = bundle.get("type")
    _check_full_urls(walk, entries, kind, parts)
    first = entries[0].get("resource") if entries and isinstance(entries[0], dict) else None
    first_type = first.get("resourceType") if isinstance(first, dict) else None
    if kind == "document":
        if first_type != "Composition":
            walk.err("invariant", (parts, "entry"), "a document's first entry is a Composition (bdl-11)")
        if "identifier" not in bundle:
            walk.err("invariant", parts, "a document has an identifier (bdl-9)")
        if "timestamp" not in bundle:
            walk.err("invariant", parts, "a document has a timestamp (bdl-10)")
    elif kind == "message" and entries and first_type != "MessageHeader" and parts is not None:
        walk.err("invariant", (parts, "entry"), "a message's first entry is a MessageHeader (bdl-12)")
    if kind == "document":
        _check_document_references(walk, entries, parts)
    links = bundle.get("link")
    if isinstance(links, list):
        relations: dict[str, int] = {}
        for i, link in enumerate(links):
            relation = link.get("relation") if isinstance(link, dict) else None
            if relation in ("self", "first", "previous", "prev", "next", "last") and relation in relations:
                walk.err("invariant", ((parts, "link"), i), f"the link relation {relation!r} can occur only once")
            elif isinstance(relation, str):
                relations[relation] = i


def _check_full_urls(walk: Walk, entries: list[Any], kind: Any, parts: Path_) -> None:
    """Each entry's fullUrl absolute, consistent with its resource's id, and unique with its version (bdl-7)."""
    seen: dict[tuple[str, Any], int] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        full = entry.get("fullUrl")
        if not isinstance(full, str) or not full:
            continue
        resource = entry.get("resource")
        at = ((parts, "entry"), i)
        if not _ABSOLUTE.fullmatch(full):
            text = f"the fullUrl must be an absolute URL, not {quote(full, 80)}"
            if kind == "message" and _RELATIVE.fullmatch(full):
                # MedCom's published test fixtures (HospitalNotification 3.0.1, Acknowledgement 2.0.0) use
                # Type/id fullUrls and expect receivers to accept them: a warning for messages
                walk.warn("value", (at, "fullUrl"), text)
            else:
                walk.err("value", (at, "fullUrl"), text)
        version = None
        if isinstance(resource, dict):
            meta = resource.get("meta")
            version = meta.get("versionId") if isinstance(meta, dict) else None
            rid = resource.get("id")
            # (_RESTFUL starts with http: no need to run it on urn:uuid: and the like)
            rest = _RESTFUL.fullmatch(full) if full.startswith("http") and isinstance(rid, str) else None
            if rest is not None and (rest.group(1), rest.group(2)) != (resource.get("resourceType"), rid):
                rtype = resource.get("resourceType")
                walk.err(
                    "value", (at, "fullUrl"), f"the fullUrl {quote(full, 80)} does not match the resource {rtype}/{rid}"
                )
        if (full, version) in seen:
            walk.err(
                "invariant",
                (at, "fullUrl"),
                f"the fullUrl {quote(full, 80)} is also the fullUrl of "
                f"entry[{seen[(full, version)]}]; fullUrls are unique in a Bundle (bdl-7)",
            )
        else:
            seen[(full, version)] = i
