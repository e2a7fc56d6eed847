"""The hub's own identifiers (tracking ids, event ids): UUID version 7 (RFC 9562), ordered by time.

A random UUID (version 4) lands anywhere in a database index, so once the tracking tables outgrow the page
cache every insert touches a different page. A version 7 UUID starts
with the time in milliseconds: ids made together sit together in every index keyed by them (messages,
deliveries, steps, archive), and operators can sort by them.
"""

from __future__ import annotations

import os
import time
import uuid

_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    """48 bits of Unix time in milliseconds, the version, 12 random bits, the variant, 62 random bits."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    random_bits = int.from_bytes(os.urandom(10), "big")  # 80 bits, 74 of them used
    rand_a = random_bits >> 68  # 12 bits
    rand_b = random_bits & ((1 << 62) - 1)  # 62 bits
    return uuid.UUID(int=(ms & ((1 << 48) - 1)) << 80 | _VERSION | rand_a << 64 | _VARIANT | rand_b)


def new_tracking_id() -> str:
    """A new tracking id, as its canonical string (36 characters)."""
    return str(uuid7())


def new_event_id() -> str:
    """A new tracking-event id, as 32 hex digits."""
    return uuid7().hex
