"""The ingest body is counted while it streams: refused as soon as it passes the limit, never read whole."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.requests import Request
from starlette.types import Message

from hub.api.process_message import read_body
from hub.api.responses import OutcomeError

CHUNK = b"x" * 65_536


def streaming_request(chunks: Iterator[bytes], headers: dict[str, str] | None = None) -> tuple[Request, list[int]]:
    """A request whose body arrives in chunks; the list counts how many the reader took."""
    taken = [0]
    pending = list(chunks)

    async def receive() -> Message:
        if not pending:
            return {"type": "http.request", "body": b"", "more_body": False}
        taken[0] += 1
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/fhir/$process-message",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    return Request(scope, receive), taken


async def test_body_within_the_limit_is_read_whole() -> None:
    request, _ = streaming_request(iter([CHUNK, CHUNK, b"end"]))
    assert await read_body(request, limit=2 * len(CHUNK) + 3) == CHUNK + CHUNK + b"end"


async def test_chunked_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    request, taken = streaming_request(iter([CHUNK] * 1000))  # 64 MiB, no Content-Length
    with pytest.raises(OutcomeError) as refused:
        await read_body(request, limit=10 * len(CHUNK))
    assert refused.value.status_code == 413
    assert refused.value.issues[0].code == "too-costly"
    assert taken[0] == 11  # the chunk that passed the limit was the last one read


async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    request, taken = streaming_request(iter([CHUNK]), headers={"Content-Length": str(10**12)})
    with pytest.raises(OutcomeError) as refused:
        await read_body(request, limit=1000)
    assert refused.value.status_code == 413
    assert taken[0] == 0
