"""The subscriptions table and the service that keeps the live index in step, on a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.domain.message import MessageFacts
from hub.route.patients import PatientEntry, PatientRegister
from hub.route.subscription import (
    Subscription,
    SubscriptionError,
    SubscriptionFilters,
    SubscriptionRefused,
    SubscriptionStatus,
)
from hub.route.subscription_store import SubscriptionExists, SubscriptionService, SubscriptionStore
from hub.store.engine import open_database
from tests.unit.route.registers import organisation, small_register

EVENTS = frozenset({"hospital-notification-message", "care-communication-message", "acknowledgement-message"})
REGISTER = small_register(organisation("gp-a", "300000000000002", "gp"))
PATIENTS = PatientRegister([PatientEntry("0101701234", municipality_code="101", gp="gp-a")])


def url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path / 'hub.sqlite3'}"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    opened = await open_database(url(tmp_path))
    yield opened
    await opened.dispose()


def listed(sid: str = "gp-a-listed", **changes: object) -> Subscription:
    values: dict[str, object] = {
        "id": sid,
        "receiver_id": "gp-a",
        "topic": "hospital-notification-message",
        "filters": SubscriptionFilters(gp_list="gp-a", activity=frozenset({"admit-inpatient"})),
        "reason": "my listed patients",
    }
    values.update(changes)
    return Subscription(**values)  # type: ignore[arg-type]


def facts(cpr: str = "0101701234") -> MessageFacts:
    return MessageFacts(
        bundle_id="b", message_id="m", event="hospital-notification-message", sender=None,
        patient_cpr=cpr, activity="admit-inpatient",
    )  # fmt: skip


async def test_create_get_list_and_round_trip(engine: AsyncEngine) -> None:
    store = SubscriptionStore(engine)
    stored = await store.create(listed())
    assert stored.created_at is not None
    assert await store.get("gp-a-listed") == stored
    await store.create(listed("kommune", receiver_id="kommune-a", topic="*", filters=SubscriptionFilters()))
    assert [s.id for s in await store.list()] == ["gp-a-listed", "kommune"]
    assert [s.id for s in await store.list(receiver="kommune-a")] == ["kommune"]
    assert await store.get("nope") is None
    with pytest.raises(SubscriptionExists):
        await store.create(listed())


async def test_status_delete_and_load_active(engine: AsyncEngine) -> None:
    store = SubscriptionStore(engine)
    await store.create(listed("a"))
    await store.create(listed("b"))
    paused = await store.set_status("a", SubscriptionStatus.PAUSED)
    assert paused is not None and paused.status is SubscriptionStatus.PAUSED
    assert await store.set_status("nope", SubscriptionStatus.PAUSED) is None
    assert [s.id for s in await store.list(status=SubscriptionStatus.PAUSED)] == ["a"]
    assert [s.id for s in await store.load_active()] == ["b"]
    assert await store.delete("b") is True
    assert await store.delete("b") is False
    assert await store.load_active() == []


async def test_seed_adds_only_new_ones_and_keeps_a_pause(engine: AsyncEngine) -> None:
    store = SubscriptionStore(engine)
    assert await store.seed([listed("a"), listed("b")]) == ["a", "b"]
    await store.set_status("a", SubscriptionStatus.PAUSED)
    assert await store.seed([listed("a"), listed("b"), listed("c")]) == ["c"]
    assert [(s.id, str(s.status)) for s in await store.list()] == [("a", "paused"), ("b", "active"), ("c", "active")]
    assert await store.seed([]) == []


async def test_survives_reopening_the_database(tmp_path: Path) -> None:
    first = await open_database(url(tmp_path))
    await SubscriptionStore(first).create(listed())
    await first.dispose()
    again = await open_database(url(tmp_path))
    try:
        [loaded] = await SubscriptionStore(again).load_active()
        assert loaded.filters == listed().filters and loaded.reason == "my listed patients"
    finally:
        await again.dispose()


async def test_service_keeps_the_index_in_step(engine: AsyncEngine) -> None:
    service = SubscriptionService(SubscriptionStore(engine), REGISTER, EVENTS, PATIENTS)
    await service.start(seeds=[listed("seeded", filters=SubscriptionFilters(municipality_code="101"))])
    assert [m.subscription_ids for m in service.live.match(facts(), {}, "hospital")] == [("seeded",)]

    await service.create(listed())
    [found] = service.live.match(facts(), {}, "hospital")
    assert found.receiver_id == "gp-a" and found.subscription_ids == ("gp-a-listed", "seeded")

    await service.set_status("seeded", SubscriptionStatus.PAUSED)
    await service.set_status("gp-a-listed", SubscriptionStatus.PAUSED)
    assert service.live.match(facts(), {}, "hospital") == []
    await service.set_status("gp-a-listed", SubscriptionStatus.ACTIVE)
    assert [m.subscription_ids for m in service.live.match(facts(), {}, "hospital")] == [("gp-a-listed",)]
    assert await service.set_status("nope", SubscriptionStatus.ACTIVE) is None

    assert await service.delete("gp-a-listed") is True
    assert service.live.match(facts(), {}, "hospital") == []
    assert len(service.live.index) == 0


async def test_service_refuses_invalid_subscriptions_and_stores_nothing(engine: AsyncEngine) -> None:
    service = SubscriptionService(SubscriptionStore(engine), REGISTER, EVENTS, PATIENTS)
    await service.start()
    with pytest.raises(SubscriptionError) as raised:
        await service.create(listed(filters=SubscriptionFilters(criteria="entry.where(")))
    assert raised.value.field == "filters.criteria"
    assert await service.store.list() == []


async def test_reload_if_changed_sees_another_process(engine: AsyncEngine) -> None:
    mine = SubscriptionService(SubscriptionStore(engine), REGISTER, EVENTS, PATIENTS)
    other = SubscriptionService(SubscriptionStore(engine), REGISTER, EVENTS, PATIENTS)
    await mine.start()
    await other.start()
    assert await mine.reload_if_changed() is False
    await other.create(listed())
    assert await mine.reload_if_changed() is True
    assert len(mine.live.index) == 1
    await other.set_status("gp-a-listed", SubscriptionStatus.PAUSED)
    assert await mine.reload_if_changed() is True
    assert len(mine.live.index) == 0


async def test_a_stored_subscription_that_no_longer_fits_is_left_out(engine: AsyncEngine) -> None:
    await SubscriptionStore(engine).create(listed("gone", receiver_id="closed-down"))
    service = SubscriptionService(SubscriptionStore(engine), REGISTER, EVENTS, PATIENTS)
    await service.start()
    assert len(service.live.index) == 0
    await service.set_status("gone", SubscriptionStatus.PAUSED)
    with pytest.raises(SubscriptionError):
        await service.set_status("gone", SubscriptionStatus.ACTIVE)


async def test_a_new_subscription_is_stored_with_its_basis(engine: AsyncEngine) -> None:
    service = SubscriptionService(SubscriptionStore(engine), REGISTER, EVENTS, PATIENTS)
    await service.start()
    created = await service.create(listed())
    assert created.basis == "gp-listed-patients: the patient's own GP"
    assert await service.store.get("gp-a-listed") == created  # the basis survives the round trip
    [found] = service.live.match(facts(), {}, "hospital")
    assert found.basis == created.basis


async def test_one_outside_the_policy_is_refused_naming_the_rule_and_nothing_is_stored(engine: AsyncEngine) -> None:
    service = SubscriptionService(SubscriptionStore(engine), REGISTER, EVENTS, PATIENTS)
    await service.start()
    with pytest.raises(SubscriptionRefused) as raised:
        await service.create(listed(filters=SubscriptionFilters(municipality_code="101")))
    assert (raised.value.field, raised.value.rule) == ("filters.gp_list", "gp-listed-patients")
    with pytest.raises(SubscriptionRefused) as hospital:
        await service.create(listed("h", receiver_id="hospital", filters=SubscriptionFilters(sender="kommune-a")))
    assert (hospital.value.field, hospital.value.rule) == ("receiver", None)
    assert await service.store.list() == []


async def test_resuming_one_whose_receiver_no_longer_accepts_the_topic_is_refused(engine: AsyncEngine) -> None:
    service = SubscriptionService(SubscriptionStore(engine), REGISTER, EVENTS, PATIENTS)
    await service.start()
    await service.create(listed())
    await service.set_status("gp-a-listed", SubscriptionStatus.PAUSED)
    # the register file changed: gp-a now takes acknowledgements only
    narrowed = small_register(organisation("gp-a", "300000000000002", "gp", accepts=["acknowledgement-message"]))
    restarted = SubscriptionService(SubscriptionStore(engine), narrowed, EVENTS, PATIENTS)
    await restarted.start()
    with pytest.raises(SubscriptionError) as raised:
        await restarted.set_status("gp-a-listed", SubscriptionStatus.ACTIVE)
    assert raised.value.field == "receiver" and "does not accept hospital-notification-message" in raised.value.message
    assert (await restarted.store.get("gp-a-listed")).status is SubscriptionStatus.PAUSED  # type: ignore[union-attr]
    assert len(restarted.live.index) == 0


async def test_update_changes_what_it_routes_on_with_the_same_checks_and_keeps_its_origin(engine: AsyncEngine) -> None:
    service = SubscriptionService(SubscriptionStore(engine), REGISTER, EVENTS, PATIENTS)
    await service.start()
    made = await service.create(listed(channel="message", created_by="gp-a"), origin="fhir")
    assert await service.update(listed("nope")) is None

    paused = await service.update(listed(status=SubscriptionStatus.PAUSED, reason="changed", channel=None))
    assert paused is not None
    assert (paused.status, paused.reason, paused.channel, paused.created_by) == (
        SubscriptionStatus.PAUSED,
        "changed",
        "message",  # the channel and who made it stay
        "gp-a",
    )
    assert paused.created_at == made.created_at
    assert service.live.match(facts(), {}, "hospital") == []

    widened = await service.update(listed(filters=SubscriptionFilters(gp_list="gp-a")))
    assert widened is not None and widened.filters.activity == frozenset()
    assert [m.subscription_ids for m in service.live.match(facts(), {}, "hospital")] == [("gp-a-listed",)]

    with pytest.raises(SubscriptionRefused):  # outside the policy: refused, the stored one left as it was
        await service.update(listed(filters=SubscriptionFilters(municipality_code="101")))
    assert await service.store.get("gp-a-listed") == widened
