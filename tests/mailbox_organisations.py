"""A hospital unit and a care home that fetch from their mailboxes: the connector tests' register, shared
by the unit tests (file drop, MLLP listener) and the integration tests that run them against a hub."""

from __future__ import annotations

from hub.route.register import Endpoint, EndpointKind, Organisation, OrganisationKind

MAILBOX_HOSPITAL = Organisation(
    id="herlev-hjerte",
    name="Hjerteafdelingen, Herlev og Gentofte Hospital",
    kind=OrganisationKind.HOSPITAL,
    sor="265161000016000",
    gln="5790000209354",
    endpoint=Endpoint(kind=EndpointKind.MAILBOX),
    accepts=frozenset({"acknowledgement-message"}),
)
MAILBOX_MUNICIPALITY = Organisation(
    id="plejecenter-herlev",
    name="Plejecenter Herlev",
    kind=OrganisationKind.MUNICIPALITY,
    sor="953741000016009",
    gln="5790001348120",
    endpoint=Endpoint(kind=EndpointKind.MAILBOX),
    accepts=frozenset({"hospital-notification-message"}),
)
