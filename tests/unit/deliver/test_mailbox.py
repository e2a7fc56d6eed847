"""Mailboxes on a real SQLite file: the store keeps one copy per message and shows each receiver only its own;
confirming an item takes it out and tells the audit trail (a ``fetched`` step on the events topic)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.broker.topics import Topics
from hub.deliver.mailbox import Mailbox, MailboxStore
from hub.domain.tracking import Step, TrackingEvent
from hub.store.engine import open_database
from hub.track.store import TrackingStore

TOPICS = Topics("t.")


class Publisher:
    """Records what would have gone to the broker; ``failing`` makes the next sends raise."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, Any]] = []
        self.failing = False

    async def send_and_wait(self, topic: str, *, key: bytes, value: bytes, headers: Any = None) -> None:
        if self.failing:
            raise ConnectionError("broker away")
        self.sent.append((topic, key, value, headers))

    def events(self) -> list[TrackingEvent]:
        assert all(topic == TOPICS.events for topic, *_ in self.sent)
        return [TrackingEvent.from_bytes(value) for _, _, value, _ in self.sent]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    opened = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}")
    yield opened
    await opened.dispose()


@pytest.fixture
def publisher() -> Publisher:
    return Publisher()


@pytest.fixture
def mailbox(engine: AsyncEngine, publisher: Publisher) -> Mailbox:
    return Mailbox(MailboxStore(engine), publisher, TOPICS)


async def put(store: MailboxStore, receiver: str = "gp", tracking_id: str = "t1", body: bytes = b"{}") -> int:
    await store.put(receiver=receiver, tracking_id=tracking_id, message_id=f"m-{tracking_id}", event="e", body=body)
    found = [item for item in await store.items(receiver) if item.tracking_id == tracking_id]
    return found[0].id


async def test_mailbox_keeps_one_copy_and_shows_only_the_owner(engine: AsyncEngine) -> None:
    store = MailboxStore(engine)
    for _ in range(2):  # a redelivered outbox record
        await store.put(receiver="gp", tracking_id="t", message_id="m", event="e", body=b"{}")
    items = await store.items("gp")
    assert len(items) == 1
    assert await store.items("other") == []
    assert await store.item("other", items[0].id) is None
    assert await store.take("other", items[0].id) is None
    taken = await store.take("gp", items[0].id)
    assert taken is not None and taken.body == b"{}"
    assert await store.items("gp") == []
    assert await store.item("gp", items[0].id) == taken  # a taken item can still be fetched by its owner


async def test_items_are_listed_oldest_first_up_to_the_limit(mailbox: Mailbox) -> None:
    for n in range(3):
        await put(mailbox.store, tracking_id=f"t{n}")
    assert [item.tracking_id for item in await mailbox.items("gp")] == ["t0", "t1", "t2"]
    assert [item.tracking_id for item in await mailbox.items("gp", limit=2)] == ["t0", "t1"]


async def test_the_delivery_worker_puts_into_the_same_mailboxes(engine: AsyncEngine, mailbox: Mailbox) -> None:
    # DeliveryWorker reaches the mailboxes through its tracking store
    await TrackingStore(engine).mailbox.put(receiver="gp", tracking_id="t", message_id="m", event="e", body=b"x")
    (item,) = await mailbox.items("gp")
    assert (item.tracking_id, item.message_id, item.event, item.body) == ("t", "m", "e", b"x")


async def test_confirm_takes_the_item_and_sends_a_fetched_step(mailbox: Mailbox, publisher: Publisher) -> None:
    item_id = await put(mailbox.store, body=b'{"resourceType": "Bundle"}')
    confirmed = await mailbox.confirm("gp", item_id)
    assert confirmed is not None and confirmed.body == b'{"resourceType": "Bundle"}'
    assert await mailbox.items("gp") == []
    (event,) = publisher.events()
    assert event.step is Step.FETCHED
    assert (event.tracking_id, event.message_id, event.event, event.receiver) == ("t1", "m-t1", "e", "gp")
    assert event.detail == {"mailbox_item": item_id}
    assert publisher.sent[0][1] == event.key


async def test_confirming_another_receivers_item_changes_and_sends_nothing(
    mailbox: Mailbox, publisher: Publisher
) -> None:
    item_id = await put(mailbox.store, receiver="gp")
    assert await mailbox.confirm("kommune", item_id) is None
    assert await mailbox.confirm("gp", item_id + 100) is None
    assert publisher.sent == []
    assert [item.id for item in await mailbox.items("gp")] == [item_id]


async def test_confirming_again_answers_the_item_and_sends_the_step_again(
    mailbox: Mailbox, publisher: Publisher
) -> None:
    item_id = await put(mailbox.store)
    first, second = await mailbox.confirm("gp", item_id), await mailbox.confirm("gp", item_id)
    assert first == second and first is not None
    assert [event.step for event in publisher.events()] == [Step.FETCHED, Step.FETCHED]


async def test_a_failed_send_leaves_the_item_taken_and_a_retried_confirm_sends_the_step(
    mailbox: Mailbox, publisher: Publisher
) -> None:
    item_id = await put(mailbox.store)
    publisher.failing = True
    with pytest.raises(ConnectionError):
        await mailbox.confirm("gp", item_id)
    assert await mailbox.items("gp") == []  # taken first, then told
    publisher.failing = False
    assert await mailbox.confirm("gp", item_id) is not None  # the receiver retries its ack
    assert [event.step for event in publisher.events()] == [Step.FETCHED]
