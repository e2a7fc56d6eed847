"""The tracking as EDS AuditEvents: which step becomes which AuditEvent, with which codes, agents, entities and ids;
and the EDS search parameters, good and bad."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from starlette.datastructures import QueryParams

from hub.domain.outcome import Issue
from hub.messages import delivery_status
from hub.messages.delivery_status import AuditEventSearch, audit_events, matches, newest_first, parse_search
from hub.route.register import Register, parse_register

HOSPITAL_SOR, HOSPITAL_GLN = "265161000016000", "5790000209354"
KOMMUNE_SOR, KOMMUNE_GLN = "953741000016009", "5790001348120"
OTHER_SOR, OTHER_GLN = "1042981000016003", "5790001042981"
HUB_SOR = "881531000016009"
MESSAGE_ID, BUNDLE_ID = "8f7e0a43-3a6b-4f0e-8d43-2b1cbe6a9d10", "0c5bd1e4-0bd6-4d4e-9a55-5b1f1f6f1f4e"
TRACKING_ID = "01890a5d-ac96-774b-bcce-b302099a8057"


def _organisation(org_id: str, name: str, kind: str, sor: str, gln: str) -> dict[str, Any]:
    return {
        "id": org_id,
        "name": name,
        "kind": kind,
        "sor": sor,
        "gln": gln,
        "endpoint": {"kind": "http", "url": f"http://127.0.0.1:9/{org_id}"},
        "accepts": ["hospital-notification-message", "acknowledgement-message"],
    }


REGISTER: Register = parse_register(
    {
        "hub": {"name": "Sektor-hub", "sor": HUB_SOR},
        "organisations": [
            _organisation("herlev-hjerte", "Hjerteafdelingen, Herlev", "hospital", HOSPITAL_SOR, HOSPITAL_GLN),
            _organisation("plejecenter-herlev", "Plejecenter Herlev", "municipality", KOMMUNE_SOR, KOMMUNE_GLN),
            _organisation("aarhus", "Århus Kommune", "municipality", OTHER_SOR, OTHER_GLN),
        ],
    },
    source="test",
)


def _step(step: str, at: str, receiver: str | None = None, **detail: Any) -> dict[str, Any]:
    return {"at": at, "step": step, "receiver": receiver, "detail": detail}


def _delivery(receiver: str, status: str = "acknowledged", code: str | None = "ok") -> dict[str, Any]:
    return {"receiver": receiver, "use": "primary", "status": status, "attempts": 1, "acknowledgement": code}


def acknowledged_view() -> dict[str, Any]:
    """A HospitalNotification from the hospital to two municipalities, as TrackingStore.get_message shows it."""
    return {
        "tracking_id": TRACKING_ID,
        "message_id": MESSAGE_ID,
        "bundle_id": BUNDLE_ID,
        "event": "hospital-notification-message",
        "sender": "herlev-hjerte",
        "patient": "010203-xxxx",
        "connector": "http",
        "received_at": "2025-03-04T09:00:00.000000+00:00",
        "status": "acknowledged",
        "receivers": [_delivery("aarhus"), _delivery("plejecenter-herlev")],
        "timeline": [
            _step("received", "2025-03-04T09:00:00.000000+00:00", connector="http", bundle_id=BUNDLE_ID),
            _step("routed", "2025-03-04T09:00:00.100000+00:00", receivers=[{"receiver": "plejecenter-herlev"}]),
            _step("delivery-attempt-failed", "2025-03-04T09:00:00.200000+00:00", "aarhus", error="503"),
            _step("delivered", "2025-03-04T09:00:01.000000+00:00", "plejecenter-herlev", attempt=1),
            _step("delivered", "2025-03-04T09:00:02.000000+00:00", "aarhus", attempt=2),
            _step("acknowledged", "2025-03-04T09:00:03.000000+00:00", "plejecenter-herlev", code="ok"),
            _step("acknowledged", "2025-03-04T09:00:04.000000+00:00", "aarhus", code="fatal-error"),
        ],
    }


def _codes(event: dict[str, Any]) -> tuple[str, str, str]:
    receiver = next(a for a in event["agent"] if a["type"]["coding"][0]["code"] == "ehmiReceiver")
    return event["subtype"][0]["code"], event["outcome"], receiver["who"]["identifier"]["value"]


def test_each_recorded_step_becomes_one_audit_event_per_receiver_it_concerns() -> None:
    events = audit_events(acknowledged_view(), register=REGISTER)
    assert [_codes(e) for e in events] == [
        ("msg-received", "0", OTHER_SOR),  # received: one per receiver (an EDS AuditEvent names one)
        ("msg-received", "0", KOMMUNE_SOR),
        ("msg-sent", "0", KOMMUNE_SOR),  # delivered
        ("msg-sent", "0", OTHER_SOR),
        ("msg-finalized", "0", KOMMUNE_SOR),  # acknowledged ok
        ("msg-finalized", "8", OTHER_SOR),  # acknowledged fatal-error: a serious failure
    ]  # routed and the failed attempt make none


def test_an_audit_event_has_the_eds_profile_codes_agents_source_and_entities() -> None:
    event = audit_events(acknowledged_view(), register=REGISTER)[2]
    AuditEvent.model_validate(event)  # FHIR structure (R4B's AuditEvent is R4's)
    assert event["meta"]["profile"] == ["http://medcomehmi.dk/ig/eds/StructureDefinition/EdsBasicDeliveryStatus"]
    terminology = "http://medcomehmi.dk/ig/terminology/CodeSystem"
    assert event["type"] == {
        "system": f"{terminology}/ehmi-delivery-status-types",
        "code": "ehmiMessaging",
        "display": "EHMI messaging event",
    }
    assert event["subtype"][0]["system"] == f"{terminology}/ehmi-delivery-status-sub-types"
    assert event["action"] == "C"
    assert event["recorded"] == "2025-03-04T09:00:01.000000+00:00"
    sender, receiver = event["agent"]
    assert sender["type"]["coding"] == [
        {
            "system": f"{terminology}/ehmi-delivery-status-participationroletype",
            "code": "ehmiSender",
            "display": "Sender",
        }
    ]
    assert sender["who"]["identifier"] == {"system": "urn:oid:1.2.208.176.1.1", "value": HOSPITAL_SOR}
    assert sender["requestor"] is True and receiver["requestor"] is False
    assert sender["name"] == "Hjerteafdelingen, Herlev"
    gln = sender["extension"][0]
    assert gln["url"] == "http://medcomehmi.dk/ig/eds/StructureDefinition/eds-otherId"
    assert gln["valueIdentifier"]["value"] == HOSPITAL_GLN
    assert gln["valueIdentifier"]["type"]["coding"][0]["code"] == "GLN"
    assert receiver["type"]["coding"][0]["code"] == "ehmiReceiver"
    assert receiver["extension"][0]["valueIdentifier"]["value"] == KOMMUNE_GLN
    assert event["source"]["observer"]["reference"] == "#hub"
    assert event["source"]["type"][0]["code"] == "MSH"
    assert event["contained"][0]["resourceType"] == "Device" and event["contained"][0]["id"] == "hub"
    message, envelope = event["entity"]
    assert message["type"]["code"] == "ehmiMessage" and message["type"]["display"] == "Message"
    assert message["what"]["identifier"]["value"] == MESSAGE_ID
    assert message["detail"] == [
        {"type": "ehmiMessageType", "valueString": "hospital-notification-message"},
        {"type": "ehmiMessageVersion", "valueString": "3.0"},
    ]
    assert envelope["type"]["code"] == "ehmiMessageEnvelope"
    assert envelope["what"]["identifier"]["value"] == BUNDLE_ID


def test_every_audit_event_of_a_view_is_valid_fhir() -> None:
    for event in audit_events(acknowledged_view(), register=REGISTER):
        AuditEvent.model_validate(event)


def test_no_patient_entity_and_no_cpr_number_in_any_audit_event() -> None:
    view = acknowledged_view()
    text = orjson.dumps(audit_events(view, register=REGISTER)).decode()
    assert "ehmiPatient" not in text  # EdsPatientDeliveryStatus would need the CPR number
    assert "010203" not in text
    assert "EdsPatientDeliveryStatus" not in text


def test_ids_are_stable_and_unique_and_the_same_in_a_receivers_narrower_view() -> None:
    first = audit_events(acknowledged_view(), register=REGISTER)
    again = audit_events(acknowledged_view(), register=REGISTER)
    assert [e["id"] for e in first] == [e["id"] for e in again]
    assert len({e["id"] for e in first}) == len(first)
    # what the store shows plejecenter-herlev: its own delivery, and the steps about it or the whole message
    narrow = acknowledged_view()
    narrow["receivers"] = [d for d in narrow["receivers"] if d["receiver"] == "plejecenter-herlev"]
    narrow["timeline"] = [s for s in narrow["timeline"] if s["receiver"] in (None, "plejecenter-herlev")]
    own = audit_events(narrow, register=REGISTER)
    assert len(own) == 3
    assert {e["id"] for e in own} < {e["id"] for e in first}
    for event in first:
        assert delivery_status.tracking_id_of(event["id"]) == TRACKING_ID
        assert len(event["id"]) <= 64


def test_ids_hold_no_run_of_digits_that_the_cpr_mask_would_change() -> None:
    from hub.domain.identifiers import mask_cpr_in_text

    ids = [delivery_status.audit_event_id(TRACKING_ID, f"key-{n}") for n in range(2000)]
    assert all(mask_cpr_in_text(i) == i for i in ids)


def test_a_rejected_message_is_received_by_the_hub_and_refused() -> None:
    view = acknowledged_view()
    view |= {"status": "rejected", "receivers": []}
    view["timeline"] = [
        _step("received", "2025-03-04T09:00:00+00:00"),
        _step("rejected", "2025-03-04T09:00:00.500000+00:00", outcome={"resourceType": "OperationOutcome"}),
    ]
    events = audit_events(view, register=REGISTER)
    assert [_codes(e) for e in events] == [("msg-received", "0", HUB_SOR), ("msg-received", "8", HUB_SOR)]
    assert events[0]["recorded"] == "2025-03-04T09:00:00.000000+00:00"  # every instant in one form


def test_a_failed_delivery_is_a_serious_failure_to_send() -> None:
    view = acknowledged_view()
    view["timeline"] = [_step("delivery-failed", "2025-03-04T09:05:00+00:00", "aarhus", error="410")]
    assert [_codes(e) for e in audit_events(view, register=REGISTER)] == [("msg-sent", "8", OTHER_SOR)]


def test_an_acknowledgement_that_answers_nothing_and_the_hubs_own_steps_make_none() -> None:
    view = acknowledged_view()
    view["timeline"] = [
        _step("acknowledged", "2025-03-04T09:00:03+00:00", "aarhus", code="ok", note="no message with this id"),
        _step("redriven", "2025-03-04T09:00:04+00:00", "aarhus"),
        _step("acknowledgement-overdue", "2025-03-04T09:00:05+00:00", "aarhus"),
        _step("fetched", "2025-03-04T09:00:06+00:00", "aarhus"),
        _step("sender-notified", "2025-03-04T09:00:07+00:00", "aarhus"),
    ]
    assert audit_events(view, register=REGISTER) == []


@pytest.mark.parametrize(
    "change",
    [
        {"message_id": None},
        {"bundle_id": None},
        {"event": "no-such-message"},
        {"sender": "sor:123456789012345"},
        {"sender": None},
    ],
)
def test_a_message_without_what_eds_requires_has_no_audit_events(change: dict[str, Any]) -> None:
    assert audit_events(acknowledged_view() | change, register=REGISTER) == []


def test_a_receiver_the_register_does_not_know_is_left_out() -> None:
    view = acknowledged_view()
    view["timeline"] = [_step("delivered", "2025-03-04T09:00:01+00:00", "gone-from-register")]
    assert audit_events(view, register=REGISTER) == []


def test_the_hubs_own_acknowledgement_names_the_hub_as_sender() -> None:
    view = acknowledged_view() | {"event": "acknowledgement-message", "sender": "hub"}
    view["receivers"] = [_delivery("herlev-hjerte", "delivered", None)]
    view["timeline"] = [_step("received", "2025-03-04T09:00:00+00:00", connector="hub")]
    (event,) = audit_events(view, register=REGISTER)
    assert event["agent"][0]["who"]["identifier"]["value"] == HUB_SOR
    assert "extension" not in event["agent"][0]  # the hub has no GLN in this register
    assert event["entity"][0]["detail"][1] == {"type": "ehmiMessageVersion", "valueString": "2.0"}


def test_newest_first() -> None:
    events = newest_first(audit_events(acknowledged_view(), register=REGISTER))
    recorded = [e["recorded"] for e in events]
    assert recorded == sorted(recorded, reverse=True)


# --- the search -------------------------------------------------------------------------------------------------


def search(query: str) -> AuditEventSearch:
    parsed = parse_search(QueryParams(query), register=REGISTER)
    assert isinstance(parsed, AuditEventSearch), parsed
    return parsed


def refused(query: str) -> list[Issue]:
    parsed = parse_search(QueryParams(query), register=REGISTER)
    assert isinstance(parsed, list), parsed
    return parsed


def test_nothing_asked_is_every_audit_event_page_by_page() -> None:
    assert search("") == AuditEventSearch(count=50, offset=0)
    assert search("_count=0&_offset=100&_format=json") == AuditEventSearch(count=0, offset=100)


def test_organisations_by_sor_gln_or_name_become_register_ids() -> None:
    assert search(f"senderOrg={HOSPITAL_SOR}").senders == frozenset({"herlev-hjerte"})
    assert search(f"senderOrg={HOSPITAL_GLN}").senders == frozenset({"herlev-hjerte"})
    assert search("senderOrg=hjerteafd").senders == frozenset({"herlev-hjerte"})  # a string: starts with, any case
    assert search(f"receiver-sor={KOMMUNE_SOR}").receivers == frozenset({"plejecenter-herlev"})
    assert search(f"receiver-gln={OTHER_GLN}").receivers == frozenset({"aarhus"})
    assert search("receiver-name=arhus").receivers == frozenset({"aarhus"})  # accents ignored
    assert search(f"participant-sor={HUB_SOR}").participants == frozenset({"hub"})
    assert search(f"receiverOrg={KOMMUNE_SOR},{OTHER_SOR}").receivers == frozenset(
        {"plejecenter-herlev", "aarhus"}
    )  # OR
    assert search(f"receiverOrg={KOMMUNE_SOR}&receiverOrg={OTHER_SOR}").receivers == frozenset()  # AND


def test_string_modifiers_and_an_unknown_organisation() -> None:
    assert search(f"sender-sor:exact={HOSPITAL_SOR[:8]}").senders == frozenset()
    assert search(f"sender-sor={HOSPITAL_SOR[:8]}").senders == frozenset({"herlev-hjerte"})
    assert search("sender-name:contains=afdeling").senders == frozenset({"herlev-hjerte"})
    assert search("senderOrg:contains=herlev").senders == frozenset({"herlev-hjerte", "plejecenter-herlev"})
    assert search("senderOrg=999999999999999").senders == frozenset()  # matches nothing; not an error


def test_message_type_id_cpr_subtype_and_outcome() -> None:
    found = search(
        f"message-id={MESSAGE_ID}&ehmiMessageType=hospital-notification-message&cpr=010203-1234"
        "&subtype=msg-sent,msg-finalized&outcome=8"
    )
    assert found.message_id == MESSAGE_ID
    assert found.message_type == "hospital-notification-message"
    assert found.cpr == "0102031234"
    assert found.subtypes == frozenset({"msg-sent", "msg-finalized"})
    assert found.outcomes == frozenset({"8"})
    assert search("ehmiMessageType=|acknowledgement-message").message_type == "acknowledgement-message"
    assert search("ehmiMessageType=http://other|acknowledgement-message").matches_nothing


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("date=ge2025-03-04&date=lt2025-03-05", datetime(2025, 3, 4, tzinfo=UTC), datetime(2025, 3, 5, tzinfo=UTC)),
        ("date=2025-03", datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)),
        ("date=2025", datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
        ("date=gt2025-03-04", datetime(2025, 3, 5, tzinfo=UTC), None),
        ("date=le2025-12", None, datetime(2026, 1, 1, tzinfo=UTC)),
        (
            "date=ge2025-03-04T10:00:00%2B01:00",
            datetime(2025, 3, 4, 9, tzinfo=UTC),
            None,
        ),
        ("date=lt2025-03-04T09:00:00Z", None, datetime(2025, 3, 4, 9, tzinfo=UTC)),
    ],
)
def test_date_prefixes_give_a_range_of_recorded(query: str, start: datetime | None, end: datetime | None) -> None:
    found = search(query)
    assert (found.recorded_from, found.recorded_before) == (start, end)


@pytest.mark.parametrize(
    ("query", "expression", "says"),
    [
        ("date=yesterday", "http.date", "not a FHIR date"),
        ("date=ge2025-13-01", "http.date", "not a FHIR date"),
        ("date=ne2025-03-04", "http.date", "prefix ne"),
        ("_count=1001", "http._count", "0 to 1000"),
        ("_count=-1", "http._count", "whole number"),
        ("_offset=x", "http._offset", "whole number"),
        ("_format=xml", "http._format", "JSON only"),
        ("cpr=12345", "http.cpr", "10 digits"),
        ("subtype=msg-lost", "http.subtype", "msg-lost"),
        ("outcome=4", "http.outcome", "'4'"),
        ("patient=0102031234", "http.patient", "unknown search parameter"),
        ("senderOrg:below=1", "http.senderOrg:below", "modifier"),
        ("orig-message-id=x", "http.orig-message-id", "ehmiOrigMessage"),
        ("message-id=a&message-id=b", "http.message-id", "once"),
        (f"message-id={'x' * 300}", "http.message-id", "at most 256"),
        ("message-id=a%00b", "http.message-id", "NUL"),
    ],
)
def test_a_bad_parameter_is_named_and_explained(query: str, expression: str, says: str) -> None:
    (issue,) = refused(query)
    assert issue.expression == expression
    assert says in issue.diagnostics


def test_every_bad_parameter_is_reported_at_once_and_no_cpr_in_the_diagnostics() -> None:
    issues = refused("cpr=0113031234&_count=x&color=red")
    assert sorted(str(i.expression) for i in issues) == ["http._count", "http.color", "http.cpr"]
    assert all("0113031234" not in i.diagnostics for i in issues)


def test_an_empty_value_is_ignored_and_a_mapping_of_lists_is_read_too() -> None:
    assert search("senderOrg=&date=") == AuditEventSearch()
    parsed = parse_search({"senderOrg": [HOSPITAL_SOR], "_count": ["5"]}, register=REGISTER)
    assert parsed == AuditEventSearch(senders=frozenset({"herlev-hjerte"}), count=5)


def _matching(query: str) -> list[tuple[str, str, str]]:
    wanted = search(query)
    return [
        _codes(e) for e in audit_events(acknowledged_view(), register=REGISTER) if matches(e, wanted, register=REGISTER)
    ]


def test_matches_filters_audit_events_by_what_they_say() -> None:
    assert len(_matching("")) == 6
    assert _matching(f"receiverOrg={OTHER_GLN}") == [
        ("msg-received", "0", OTHER_SOR),
        ("msg-sent", "0", OTHER_SOR),
        ("msg-finalized", "8", OTHER_SOR),
    ]
    assert len(_matching(f"sender-sor={HOSPITAL_SOR}&message-id={MESSAGE_ID}")) == 6
    assert _matching(f"sender-sor={KOMMUNE_SOR}") == []
    assert len(_matching(f"participant-sor={KOMMUNE_SOR}")) == 3
    assert _matching("outcome=8") == [("msg-finalized", "8", OTHER_SOR)]
    assert _matching("subtype=msg-sent&date=ge2025-03-04T09:00:01.5Z") == [("msg-sent", "0", OTHER_SOR)]
    assert _matching("date=lt2025-03-04T09:00:01Z") == [
        ("msg-received", "0", OTHER_SOR),
        ("msg-received", "0", KOMMUNE_SOR),
    ]
    assert _matching("message-id=another") == []
    assert _matching("ehmiMessageType=care-communication-message") == []
    assert _matching("ehmiMessageType=http://other|hospital-notification-message") == []


def test_audit_events_do_not_change_the_view() -> None:
    view = acknowledged_view()
    before = copy.deepcopy(view)
    audit_events(view, register=REGISTER)
    assert view == before
