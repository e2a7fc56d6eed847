"""Publishing a failure notice (hub.messages.failure_notice): its tracking events first, then its outbox record,
so the notice is tracked before it can be delivered. The same notice published twice is delivered once (the
ledger) and recorded once (its events' ids)."""

from __future__ import annotations

from hub.broker.port import RecordPublisher
from hub.broker.topics import Topics
from hub.messages.failure_notice import FailureNotice


async def publish_notice(publisher: RecordPublisher, topics: Topics, notice: FailureNotice) -> None:
    for event in notice.events:
        await publisher.send_and_wait(topics.events, key=event.key, value=event.to_bytes())
    outbox = notice.outbox
    await publisher.send_and_wait(topics.outbox, key=outbox.key, value=outbox.raw, headers=outbox.headers())
