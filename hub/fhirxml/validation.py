"""Validation of messages in either FHIR format, for the ingress worker: XML is converted to JSON, validated with
the very rules JSON is (hub.validate), and its issues placed at their line and column in the XML."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from hub.fhirxml.convert import json_text
from hub.fhirxml.located import located_in_xml, refusal_issue
from hub.fhirxml.media import FhirFormat, format_of
from hub.fhirxml.reader import XmlRefused
from hub.validate.pool import Validation
from hub.validate.validator import Verdict


async def validate_any_format(validation: Validation, messages: Sequence[tuple[bytes, str | None]]) -> list[Verdict]:
    """One verdict per (raw, declared Content-Type or None), in order; JSON is validated as it is."""
    prepared: list[bytes | Verdict] = []
    for raw, content_type in messages:
        if format_of(raw, content_type) is FhirFormat.JSON:
            prepared.append(raw)
            continue
        try:
            prepared.append(json_text(raw, content_type))
        except XmlRefused as exc:  # not FHIR XML: rejected as JSON that does not parse is
            prepared.append(Verdict((refusal_issue(exc),), None, None))
    texts = [item for item in prepared if isinstance(item, bytes)]
    validated = iter(await validation.validate_all(texts) if texts else [])
    verdicts = []
    for (raw, _), item in zip(messages, prepared, strict=True):
        if isinstance(item, Verdict):
            verdicts.append(item)
            continue
        verdict = next(validated)
        if item is not raw and verdict.issues:
            verdict = replace(verdict, issues=located_in_xml(raw, verdict.issues))
        verdicts.append(verdict)
    return verdicts
