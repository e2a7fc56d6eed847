"""The tracking projection's decisions, apart from the database: pure functions over plain row dicts.

``TrackingStore.record`` loads the rows a batch of events can touch (``rows_wanted`` says which), ``project``
applies the events to them in order, in memory, and the store writes back what ``project`` returns, so a
batch costs a fixed number of statements however many events it holds.

The rules, event by event (as they were when every event was its own handful of statements):

- an event whose id was recorded before, or came earlier in the batch, changes nothing;
- RECEIVED adds the message unless it is there already;
- REJECTED and ROUTING_FAILED set their flag and the outcome on the message, if it is there;
- ROUTED sets ``routed`` on the message, if it is there, and adds a pending delivery for each receiver
  that has none;
- a delivery outcome (attempt failed, delivered, failed, redriven) advances the delivery of its receiver,
  adding it first if it is missing (the report may overtake the message's own events);
- ACKNOWLEDGEMENT_OVERDUE counts one more flag on the delivery, if it is there;
- SENDER_NOTIFIED (the hub told the sender that a receiver did not get it) is a step on the message only: no
  status changes;
- ACKNOWLEDGED advances, for that receiver, every tracked copy of the acknowledged message (of that sender,
  when the event names one); when it answers nothing it is kept on its own record with a note;
- every event is one step on each tracking id it concerns; each message touched gets its status anew
  (``hub.domain.status.message_status``) once the whole batch is applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from hub.domain.status import DeliveryStatus, MessageStatus, message_status, next_delivery_status
from hub.domain.tracking import Step, TrackingEvent

Row = dict[str, Any]

DELIVERY_OUTCOMES = {
    Step.DELIVERY_ATTEMPT_FAILED: DeliveryStatus.RETRYING,
    Step.DELIVERED: DeliveryStatus.DELIVERED,
    Step.DELIVERY_FAILED: DeliveryStatus.FAILED,
    Step.REDRIVEN: DeliveryStatus.PENDING,
}
_ATTEMPTS = (Step.DELIVERED, Step.DELIVERY_ATTEMPT_FAILED, Step.DELIVERY_FAILED)  # steps that count a try
UNANSWERED_NOTE = "no message with this id was delivered to the acknowledging receiver"


def fresh_events(events: Iterable[TrackingEvent], known_ids: Iterable[str]) -> list[TrackingEvent]:
    """The events not recorded before, in order, each once."""
    seen = set(known_ids)
    fresh = []
    for event in events:
        if event.id not in seen:
            seen.add(event.id)
            fresh.append(event)
    return fresh


@dataclass(frozen=True, slots=True)
class Wanted:
    """The rows a batch can touch: messages (with all their deliveries) by tracking id, messages by message id
    (the acknowledged ones), and messages without a message id that have a delivery to one of
    ``unnamed_receivers`` (an acknowledgement that names no message matches those)."""

    tracking_ids: frozenset[str]
    message_ids: frozenset[str]
    unnamed_receivers: frozenset[str]


def rows_wanted(events: Iterable[TrackingEvent]) -> Wanted:
    tracking_ids: set[str] = set()
    message_ids: set[str] = set()
    unnamed_receivers: set[str] = set()
    for event in events:
        tracking_ids.add(event.tracking_id)
        if event.step is Step.ACKNOWLEDGED and event.receiver is not None:  # no receiver: matches no delivery
            if event.message_id is None:
                unnamed_receivers.add(event.receiver)
            else:
                message_ids.add(event.message_id)
    return Wanted(frozenset(tracking_ids), frozenset(message_ids), frozenset(unnamed_receivers))


@dataclass(slots=True)
class Changes:
    """What to write back: whole rows, with their final values."""

    new_messages: list[Row] = field(default_factory=list)
    changed_messages: list[Row] = field(default_factory=list)
    new_deliveries: list[Row] = field(default_factory=list)
    changed_deliveries: list[Row] = field(default_factory=list)
    steps: list[Row] = field(default_factory=list)


def project(
    events: Sequence[TrackingEvent],
    *,
    messages: Iterable[Mapping[str, Any]],
    deliveries: Iterable[Mapping[str, Any]],
    now: str,
) -> Changes:
    """Apply `events` (fresh ones: see `fresh_events`) in order to the stored rows they can touch (see
    `rows_wanted`); `now` is the time of every row written. The given rows are not changed."""
    batch = _Batch(messages, deliveries, now)
    for event in events:
        batch.apply(event)
    return batch.changes()


class _Batch:
    def __init__(
        self, messages: Iterable[Mapping[str, Any]], deliveries: Iterable[Mapping[str, Any]], now: str
    ) -> None:
        self.now = now
        self.messages: dict[str, Row] = {row["tracking_id"]: dict(row) for row in messages}
        # tracking ids by message id, for acknowledgements (dicts as ordered sets)
        self.copies: dict[str | None, dict[str, None]] = {}
        for tracking_id, row in self.messages.items():
            self.copies.setdefault(row["message_id"], {})[tracking_id] = None
        self.deliveries: dict[tuple[str, str], Row] = {
            (row["tracking_id"], row["receiver"]): dict(row) for row in deliveries
        }
        self.new_messages: dict[str, None] = {}
        self.new_deliveries: dict[tuple[str, str], None] = {}
        self.changed_deliveries: dict[tuple[str, str], None] = {}
        self.touched: dict[str, None] = {}
        self.steps: list[Row] = []

    def apply(self, event: TrackingEvent) -> None:
        tracking_ids = [event.tracking_id]
        detail = event.detail
        if event.step is Step.RECEIVED:
            self._receive(event)
        elif event.step in (Step.REJECTED, Step.ROUTING_FAILED):
            message = self.messages.get(event.tracking_id)
            if message is not None:
                message["rejected" if event.step is Step.REJECTED else "routing_failed"] = True
                message["outcome"] = orjson.dumps(event.detail.get("outcome")).decode()
        elif event.step is Step.ROUTED:
            message = self.messages.get(event.tracking_id)
            if message is not None:
                message["routed"] = True
            for receiver in event.detail.get("receivers", []):
                self._ensure_delivery(event.tracking_id, receiver["receiver"], receiver.get("use"))
        elif event.step is Step.ACKNOWLEDGEMENT_OVERDUE:
            key = (event.tracking_id, event.receiver or "")
            delivery = self.deliveries.get(key) if event.receiver is not None else None
            if delivery is not None:
                delivery["overdue_count"] += 1
                delivery["updated_at"] = self.now
                self._changed(key)
        elif event.step is Step.SENDER_NOTIFIED:
            pass  # a step of the timeline, nothing more: the delivery's failure is already its status
        elif event.step in DELIVERY_OUTCOMES:
            self._advance(event.tracking_id, event, DELIVERY_OUTCOMES[event.step])
        elif event.step is Step.ACKNOWLEDGED:
            tracking_ids = sorted(self._acknowledged_copies(event))
            for tracking_id in tracking_ids:
                self._advance(tracking_id, event, DeliveryStatus.ACKNOWLEDGED)
            if not tracking_ids:
                # the acknowledgement answers nothing the hub carried to that receiver: keep it on its own record
                tracking_ids = [event.tracking_id]
                if "note" not in detail:
                    detail = {**detail, "note": UNANSWERED_NOTE}
        text = orjson.dumps(detail).decode() if detail else None
        for index, tracking_id in enumerate(tracking_ids):
            self.touched[tracking_id] = None
            self.steps.append(
                {
                    "id": event.id if index == 0 else f"{event.id[:24]}{index:08d}",
                    "tracking_id": tracking_id,
                    "at": event.at,
                    "step": str(event.step),
                    "receiver": event.receiver,
                    "detail": text,
                }
            )

    def _receive(self, event: TrackingEvent) -> None:
        if event.tracking_id in self.messages:
            return
        self.messages[event.tracking_id] = {
            "tracking_id": event.tracking_id,
            "message_id": event.message_id,
            "bundle_id": event.detail.get("bundle_id"),
            "event": event.event,
            "sender": event.sender,
            "patient": event.patient,
            "connector": event.detail.get("connector"),
            "received_at": event.at,
            "status": str(MessageStatus.RECEIVED),
            "routed": False,
            "routing_failed": False,
            "rejected": False,
            "outcome": None,
            "updated_at": self.now,
        }
        self.copies.setdefault(event.message_id, {})[event.tracking_id] = None
        self.new_messages[event.tracking_id] = None

    def _ensure_delivery(self, tracking_id: str, receiver: str, use: str | None) -> Row:
        key = (tracking_id, receiver)
        delivery = self.deliveries.get(key)
        if delivery is None:
            delivery = self.deliveries[key] = {
                "tracking_id": tracking_id,
                "receiver": receiver,
                "use": use,
                "status": str(DeliveryStatus.PENDING),
                "attempts": 0,
                "ack_code": None,
                "overdue_count": 0,
                "last_error": None,
                "updated_at": self.now,
            }
            self.new_deliveries[key] = None
        return delivery

    def _advance(self, tracking_id: str, event: TrackingEvent, proposed: DeliveryStatus) -> None:
        receiver = event.receiver or ""
        delivery = self._ensure_delivery(tracking_id, receiver, None)
        delivery["status"] = str(next_delivery_status(DeliveryStatus(delivery["status"]), proposed))
        delivery["updated_at"] = self.now
        if event.step in _ATTEMPTS:
            attempts = delivery["attempts"]
            delivery["attempts"] = max(attempts, int(event.detail.get("attempt", attempts + 1)))
        if "error" in event.detail:
            delivery["last_error"] = str(event.detail["error"])
        if "code" in event.detail:
            delivery["ack_code"] = event.detail["code"]
        self._changed((tracking_id, receiver))

    def _acknowledged_copies(self, event: TrackingEvent) -> list[str]:
        """The tracked copies of the acknowledged message delivered to the acknowledging receiver."""
        if event.receiver is None:
            return []
        found = []
        for tracking_id in self.copies.get(event.message_id, {}):
            if event.sender and self.messages[tracking_id]["sender"] != event.sender:  # ids are unique per sender
                continue
            if (tracking_id, event.receiver) in self.deliveries:
                found.append(tracking_id)
        return found

    def _changed(self, key: tuple[str, str]) -> None:
        if key not in self.new_deliveries:
            self.changed_deliveries[key] = None

    def changes(self) -> Changes:
        of_message: dict[str, list[Row]] = {tracking_id: [] for tracking_id in self.touched}
        for (tracking_id, _), delivery in self.deliveries.items():
            if tracking_id in of_message:
                of_message[tracking_id].append(delivery)
        changed_messages = []
        for tracking_id, found in of_message.items():
            message = self.messages.get(tracking_id)
            if message is None:
                continue
            message["status"] = str(
                message_status(
                    rejected=message["rejected"],
                    routing_failed=message["routing_failed"],
                    routed=message["routed"],
                    deliveries=[(DeliveryStatus(d["status"]), d["ack_code"]) for d in found],
                )
            )
            message["updated_at"] = self.now
            if tracking_id not in self.new_messages:
                changed_messages.append(message)
        return Changes(
            new_messages=[self.messages[tracking_id] for tracking_id in self.new_messages],
            changed_messages=changed_messages,
            new_deliveries=[self.deliveries[key] for key in self.new_deliveries],
            changed_deliveries=[self.deliveries[key] for key in self.changed_deliveries],
            steps=self.steps,
        )
