"""Group commit: concurrent callers share one call of the batch function, each gets its own result."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hub.store.group_commit import GroupCommit


async def test_callers_arriving_together_share_one_batch_and_get_their_own_results() -> None:
    batches: list[list[int]] = []

    async def double(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        await asyncio.sleep(0)
        return [2 * i for i in items]

    group: GroupCommit[int, int] = GroupCommit(double)
    results = await asyncio.gather(*(group.submit(i) for i in range(10)))
    assert results == [2 * i for i in range(10)]
    assert batches == [list(range(10))]


async def test_callers_arriving_during_a_batch_go_in_the_next() -> None:
    release = asyncio.Event()
    batches: list[list[str]] = []

    async def run(items: Sequence[str]) -> list[str]:
        batches.append(list(items))
        await release.wait()
        return [item.upper() for item in items]

    group: GroupCommit[str, str] = GroupCommit(run)
    first = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(0.01)
    later = [asyncio.create_task(group.submit(x)) for x in "bcd"]
    await asyncio.sleep(0.01)
    release.set()
    assert await first == "A"
    assert [await t for t in later] == ["B", "C", "D"]
    assert batches == [["a"], ["b", "c", "d"]]


async def test_a_batch_is_never_larger_than_its_limit() -> None:
    sizes: list[int] = []

    async def run(items: Sequence[int]) -> list[int]:
        sizes.append(len(items))
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(run, max_batch=4)
    assert await asyncio.gather(*(group.submit(i) for i in range(10))) == list(range(10))
    assert sizes == [4, 4, 2]


async def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def run(items: Sequence[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database away")
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(run)
    outcomes = await asyncio.gather(*(group.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert await group.submit(7) == 7


async def test_a_cancelled_caller_is_left_out_of_the_batch() -> None:
    seen: list[list[int]] = []
    release = asyncio.Event()

    async def run(items: Sequence[int]) -> list[int]:
        seen.append(list(items))
        await release.wait()
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(run)
    blocker = asyncio.create_task(group.submit(0))
    await asyncio.sleep(0.01)
    gone = asyncio.create_task(group.submit(1))
    kept = asyncio.create_task(group.submit(2))
    await asyncio.sleep(0.01)
    gone.cancel()
    release.set()
    assert await blocker == 0
    assert await kept == 2
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert seen == [[0], [2]]
