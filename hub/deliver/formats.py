"""What a receiver is sent: the message in the FHIR format its register entry asks for, with its media type.

The original bytes when the message is in that format already (what the sender sent is what the receiver gets),
else a faithful conversion (hub.fhirxml). A message the hub validated always converts; should one not, that is a
fault of the hub, and the delivery is given up with the reason rather than sent in a format the receiver did not
ask for.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.faults import fault_kind
from hub.fhirxml.convert import in_format
from hub.fhirxml.media import MEDIA_TYPES, FhirFormat


class NotConvertible(ValueError):
    """The message cannot be written in the receiver's format."""


@dataclass(frozen=True, slots=True)
class Body:
    content: bytes
    media_type: str


def body_for(raw: bytes, wanted: FhirFormat) -> Body:
    """The message as the receiver takes it. Raises NotConvertible."""
    try:
        content = in_format(raw, wanted)
    except (ValueError, RecursionError) as exc:
        raise NotConvertible(
            f"the message could not be converted to FHIR {wanted.upper()} ({fault_kind(exc)})"
        ) from exc
    return Body(content, MEDIA_TYPES[wanted])
