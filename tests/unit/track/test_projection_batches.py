"""The batched projection: a batch ends where the same events one at a time end, in a fixed number of statements."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.domain.tracking import Step, TrackingEvent
from hub.store.tables import deliveries, messages, steps
from hub.track import projection
from hub.track.store import MessageQuery, TrackingStore

TRACKING_IDS = ("t0", "t1", "t2")
MESSAGE_IDS = ("m0", "m1")  # two tracked copies may share one: a resent message
SENDERS = ("hospital", "clinic")
RECEIVERS = ("r1", "r2", "")
AT = "2026-01-01T10:00:00.000000+00:00"


async def status_of(store: TrackingStore, tracking_id: str) -> str:
    found = await store.get_message(tracking_id)
    assert found is not None
    return str(found["status"])


async def open_store(path: Path) -> TrackingStore:
    return await TrackingStore.open(f"sqlite+aiosqlite:///{path}")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TrackingStore]:
    opened = await open_store(tmp_path / "hub.sqlite3")
    yield opened
    await opened.close()


async def tables(store: TrackingStore) -> dict[str, list[dict[str, Any]]]:
    """Every row of the projection's tables, without the times they were written."""
    async with store.engine.connect() as connection:
        found = {}
        for table, order in ((messages, ["tracking_id"]), (deliveries, ["tracking_id", "receiver"]), (steps, ["id"])):
            rows = await connection.execute(sa.select(table).order_by(*(table.c[c] for c in order)))
            found[table.name] = [{k: v for k, v in row.items() if k != "updated_at"} for row in rows.mappings()]
        return found


@contextmanager
def counting(store: TrackingStore) -> Iterator[list[tuple[str, Any]]]:
    """The statements the store sends to the database while inside."""
    sent: list[tuple[str, Any]] = []

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", count)


def event_id(n: int) -> str:
    # 32 characters like a uuid hex; the ids of an acknowledgement's further steps (id[:24] + 8 digits) never
    # end in "ffffffff", so they never meet another event's id
    return f"{n:024x}ffffffff"


# --- random sequences of events -------------------------------------------------------------------------------

DETAIL = st.fixed_dictionaries(
    {},
    optional={
        "attempt": st.integers(1, 4),
        "error": st.sampled_from(["HTTP 500", "timeout"]),
        "code": st.sampled_from(["ok", "error", "fatal-error"]),
    },
)
RECEIVER = st.sampled_from((*RECEIVERS, None))
DELIVERY_STEPS = st.sampled_from(
    [
        Step.DELIVERED,
        Step.DELIVERY_ATTEMPT_FAILED,
        Step.DELIVERY_FAILED,
        Step.REDRIVEN,
        Step.ACKNOWLEDGEMENT_OVERDUE,
        Step.FETCHED,
    ]
)


@st.composite
def event_lists(draw: st.DrawFn) -> list[TrackingEvent]:
    """The lives of a few messages (received, routed, then each receiver's deliveries and acknowledgements),
    interleaved at random, with stray events of any kind, some events out of order and some read twice."""
    message_id = {t: draw(st.sampled_from(MESSAGE_IDS)) for t in TRACKING_IDS}
    sender = {t: draw(st.sampled_from((SENDERS[0], *SENDERS))) for t in TRACKING_IDS}
    lives = [draw(_life(t, message_id[t], sender[t])) for t in TRACKING_IDS]
    lives.append(draw(st.lists(_any_event(message_id, sender), max_size=8)))
    specs = []
    while any(lives):
        live = [life for life in lives if life]
        specs.append(live[draw(st.integers(0, len(live) - 1))].pop(0))
    for i, j in draw(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=3)):
        if specs:  # producers interleave: a step may overtake an earlier one
            i, j = i % len(specs), j % len(specs)
            specs[i], specs[j] = specs[j], specs[i]
    events = [TrackingEvent(id=event_id(n), at=AT, **spec) for n, spec in enumerate(specs)]
    for position, repeated in draw(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=4)):
        if events:  # the events topic is read at least once
            events.insert(min(position, len(events)), events[repeated % len(events)])
    return events


def _received(t: str, message_id: str, sender: str) -> dict[str, Any]:
    return {
        "step": Step.RECEIVED,
        "tracking_id": t,
        "message_id": message_id,
        "event": "care-communication-message",
        "sender": sender,
        "patient": "2509479989",
        "detail": {"connector": "http", "bundle_id": f"bundle-{t}"},
    }


def _routed(t: str, message_id: str, receivers: Sequence[str]) -> dict[str, Any]:
    return {
        "step": Step.ROUTED,
        "tracking_id": t,
        "message_id": message_id,
        "detail": {"receivers": [{"receiver": r, "use": "primary", "reason": "test"} for r in receivers]},
    }


def _reported(
    step: Step, t: str, message_id: str | None, receiver: str | None, detail: dict[str, Any]
) -> dict[str, Any]:
    return {"step": step, "tracking_id": t, "message_id": message_id, "receiver": receiver, "detail": detail}


def _acknowledged(
    t: str, message_id: str | None, sender: str | None, receiver: str | None, detail: dict[str, Any]
) -> dict[str, Any]:
    return {
        "step": Step.ACKNOWLEDGED,
        "tracking_id": t,
        "message_id": message_id,
        "sender": sender,
        "receiver": receiver,
        "detail": detail,
    }


ACK_TRACKING_IDS = st.sampled_from(("ack-0", "ack-1", "t0"))  # an acknowledgement is a tracked message too


@st.composite
def _life(draw: st.DrawFn, t: str, message_id: str, sender: str) -> list[dict[str, Any]]:
    receivers = draw(st.lists(st.sampled_from(RECEIVERS), min_size=1, max_size=3, unique=True))
    life = [_received(t, message_id, sender), _routed(t, message_id, receivers)]
    for receiver in receivers:
        for _ in range(draw(st.integers(0, 4))):
            if draw(st.integers(0, 3)) == 0:
                life.append(
                    _acknowledged(
                        draw(ACK_TRACKING_IDS),
                        message_id,
                        draw(st.sampled_from((None, sender, *SENDERS))),
                        receiver,
                        draw(DETAIL),
                    )
                )
            else:
                life.append(_reported(draw(DELIVERY_STEPS), t, message_id, receiver, draw(DETAIL)))
    return life


def _any_event(message_id: dict[str, str], sender: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    t = st.sampled_from(TRACKING_IDS)
    return st.one_of(
        t.map(lambda t: _received(t, message_id[t], sender[t])),
        st.builds(
            lambda t, to: _routed(t, message_id[t], to),
            t,
            st.lists(st.sampled_from(RECEIVERS), max_size=3, unique=True),
        ),
        st.builds(
            lambda step, t: {
                "step": step,
                "tracking_id": t,
                "message_id": message_id[t],
                "detail": {"outcome": {"resourceType": "OperationOutcome", "issue": []}},
            },
            st.sampled_from([Step.REJECTED, Step.ROUTING_FAILED]),
            t,
        ),
        st.builds(lambda step, t, r, d: _reported(step, t, message_id[t], r, d), DELIVERY_STEPS, t, RECEIVER, DETAIL),
        st.builds(
            _acknowledged,
            ACK_TRACKING_IDS,
            st.sampled_from((*MESSAGE_IDS, "never-sent", None)),
            st.sampled_from((*SENDERS, None)),
            RECEIVER,
            DETAIL,
        ),
    )


async def _record_in_batches(path: Path, batches: Sequence[Sequence[TrackingEvent]]) -> dict[str, Any]:
    store = await open_store(path)
    try:
        for batch in batches:
            await store.record(batch)
        return await tables(store)
    finally:
        await store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=event_lists(), cuts=st.lists(st.integers(1, 40), max_size=4))
def test_one_batch_ends_where_one_event_at_a_time_ends(
    tmp_path: Path, events: list[TrackingEvent], cuts: list[int]
) -> None:
    folder = tmp_path / uuid.uuid4().hex
    edges = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    in_pieces = [events[a:b] for a, b in pairwise(edges)]

    async def run() -> list[dict[str, Any]]:
        return [
            await _record_in_batches(folder / "one-batch.sqlite3", [events]),
            await _record_in_batches(folder / "one-at-a-time.sqlite3", [[e] for e in events]),
            await _record_in_batches(folder / "in-pieces.sqlite3", in_pieces),
        ]

    whole, singly, pieces = asyncio.run(run())
    assert whole == singly
    assert pieces == singly
    assert len(whole["steps"]) >= len({e.id for e in events})


# --- statements per batch ----------------------------------------------------------------------------------------


def _lifecycle(prefix: str, i: int) -> list[TrackingEvent]:
    """A message received and routed to two receivers."""
    t = f"{prefix}-t{i}"
    return [
        TrackingEvent(Step.RECEIVED, t, message_id=f"{prefix}-m{i}", sender="hospital", detail={"connector": "http"}),
        TrackingEvent(
            Step.ROUTED,
            t,
            message_id=f"{prefix}-m{i}",
            detail={"receivers": [{"receiver": "r1", "use": "primary"}, {"receiver": "r2", "use": "cc"}]},
        ),
    ]


def _answers(prefix: str, i: int) -> list[TrackingEvent]:
    """The earlier message delivered to both receivers and acknowledged by one, overdue at the other."""
    t, m = f"{prefix}-t{i}", f"{prefix}-m{i}"
    return [
        TrackingEvent(Step.DELIVERED, t, message_id=m, receiver="r1", detail={"attempt": 1}),
        TrackingEvent(Step.DELIVERED, t, message_id=m, receiver="r2", detail={"attempt": 2}),
        TrackingEvent(
            Step.ACKNOWLEDGED, f"ack-{t}", message_id=m, sender="hospital", receiver="r1", detail={"code": "ok"}
        ),
        TrackingEvent(Step.ACKNOWLEDGEMENT_OVERDUE, t, message_id=m, receiver="r2"),
    ]


async def _statements_for(store: TrackingStore, prefix: str, count: int) -> int:
    """Statements for a batch of `4 * count` events about `count` messages: every other one new (received,
    routed, delivered to both receivers), the others stored before and now answered."""
    old = range(1, count, 2)
    await store.record([e for i in old for e in _lifecycle(prefix, i)])
    batch = [
        e
        for i in range(count)
        for e in (_answers(prefix, i) if i in old else [*_lifecycle(prefix, i), *_answers(prefix, i)[:2]])
    ]
    assert len(batch) == 4 * count
    with counting(store) as sent:
        await store.record(batch)
    assert await status_of(store, f"{prefix}-t0") == "delivered"  # new
    found = await store.get_message(f"{prefix}-t1")  # stored before
    assert found is not None and found["status"] == "delivered"
    assert {(r["receiver"], r["status"], r["acknowledgement_overdue"]) for r in found["receivers"]} == {
        ("r1", "acknowledged", False),
        ("r2", "delivered", True),
    }
    return len(sent)


async def test_a_batch_costs_the_same_statements_however_many_events_it_holds(store: TrackingStore) -> None:
    small = await _statements_for(store, "small", 5)  # 20 events
    large = await _statements_for(store, "large", 50)  # 200 events
    # read: steps seen, messages, deliveries; written: new and changed messages, new and changed deliveries, steps
    assert small == large == 8


async def test_events_seen_before_cost_one_statement(store: TrackingStore) -> None:
    events = [e for i in range(20) for e in _lifecycle("seen", i)]
    await store.record(events)
    with counting(store) as sent:
        await store.record(events)
    assert len(sent) == 1


async def test_large_batches_keep_their_in_lists_short(store: TrackingStore) -> None:
    events = [e for i in range(1200) for e in (*_lifecycle("big", i), *_answers("big", i))]
    with counting(store) as sent:
        await store.record(events)
    assert max(len(parameters) for statement, parameters in sent if statement.lstrip().startswith("SELECT")) <= 1000
    total, found = await store.find_messages(MessageQuery(status="delivered", limit=10))
    assert total == 1200 and len(found) == 10


# --- particular cases --------------------------------------------------------------------------------------------


async def test_an_acknowledgement_marks_every_copy_of_the_message_of_its_sender(store: TrackingStore) -> None:
    first, resent, other = _lifecycle("copy", 0), _lifecycle("copy", 1), _lifecycle("copy", 2)
    resent = [
        TrackingEvent(e.step, e.tracking_id, message_id="copy-m0", sender="hospital", detail=e.detail) for e in resent
    ]
    other = [
        TrackingEvent(e.step, e.tracking_id, message_id="copy-m0", sender="clinic", detail=e.detail) for e in other
    ]
    ack = TrackingEvent(
        Step.ACKNOWLEDGED,
        "ack",
        message_id="copy-m0",
        sender="hospital",
        receiver="r1",
        detail={"code": "ok"},
        id=event_id(7),
    )
    await store.record([*first, *resent, *other, ack])  # in one batch: the copies are not stored yet
    statuses = {}
    for t in ("copy-t0", "copy-t1", "copy-t2"):
        found = await store.get_message(t)
        assert found is not None
        statuses[t] = {r["receiver"]: r["status"] for r in found["receivers"]}
    assert statuses == {
        "copy-t0": {"r1": "acknowledged", "r2": "pending"},
        "copy-t1": {"r1": "acknowledged", "r2": "pending"},
        "copy-t2": {"r1": "pending", "r2": "pending"},  # another sender's message with the same id
    }
    async with store.engine.connect() as connection:
        rows = await connection.execute(
            sa.select(steps.c.id, steps.c.tracking_id).where(steps.c.step == "acknowledged")
        )
        assert {tuple(row) for row in rows} == {
            (event_id(7), "copy-t0"),
            (f"{event_id(7)[:24]}00000001", "copy-t1"),
        }


async def test_a_delivery_report_before_the_message_and_routing_before_receipt(store: TrackingStore) -> None:
    received, routed = _lifecycle("early", 0)
    delivered = TrackingEvent(Step.DELIVERED, "early-t0", message_id="early-m0", receiver="r1", detail={"attempt": 3})
    await store.record([delivered, routed, received])
    found = await store.get_message("early-t0")
    assert found is not None
    # as it always was, one event at a time too: routing reported before the message's row existed is not
    # kept on the row (this pins today's behaviour; change it here and in the projection together)
    assert found["status"] == "received"
    assert {(r["receiver"], r["status"], r["attempts"], r["use"]) for r in found["receivers"]} == {
        ("r1", "delivered", 3, None),
        ("r2", "pending", 0, "cc"),
    }


def test_an_acknowledgement_answering_nothing_gets_a_note_and_the_event_is_left_as_it_was() -> None:
    ack = TrackingEvent(Step.ACKNOWLEDGED, "ack", message_id="m", receiver="r1", detail={"code": "ok"})
    changes = projection.project([ack], messages=[], deliveries=[], now=AT)
    assert [(s["tracking_id"], s["id"]) for s in changes.steps] == [("ack", ack.id)]
    assert '"note":"no message with this id' in changes.steps[0]["detail"]
    assert ack.detail == {"code": "ok"}


def test_fresh_events_drop_known_and_repeated_ids() -> None:
    a, b = TrackingEvent(Step.RECEIVED, "t"), TrackingEvent(Step.FETCHED, "t")
    assert projection.fresh_events([a, b, a, b], known_ids={b.id}) == [a]
