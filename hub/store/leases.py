"""Leases: periodic work that exactly one of several hub processes on one database may do at a time.

``hold`` takes a named lease or renews it, and answers whether this process holds it now; a lease not renewed
within its time-to-live is free for another process to take, so work a killed process held moves on by
itself. The work renews its lease each round, well inside the time-to-live, and stops when ``hold`` says no.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.store.engine import insert_new, writing
from hub.store.tables import leases


def holder_name() -> str:
    """This process, as the holder of its leases: host, process id and a random part (a pid is reused)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    def __init__(self, engine: AsyncEngine, *, holder: str | None = None, clock: Callable[[], float] = time.time):
        self._engine = engine
        self.holder = holder or holder_name()
        self._clock = clock

    async def hold(self, name: str, *, ttl: float) -> bool:
        """Take the lease ``name`` (free, expired, or already this process's) for ``ttl`` seconds from now."""
        now = self._clock()
        async with writing(self._engine) as connection:
            renewed = await connection.execute(
                leases.update()
                .where(leases.c.name == name, sa.or_(leases.c.holder == self.holder, leases.c.expires_at < now))
                .values(holder=self.holder, expires_at=now + ttl)
            )
            if renewed.rowcount == 1:
                return True
            taken = await connection.execute(
                insert_new(connection, leases).values(name=name, holder=self.holder, expires_at=now + ttl)
            )
            return bool(taken.rowcount == 1)

    async def release(self, name: str) -> None:
        """Give the lease back at once (work done, or the process stopping), if this process holds it."""
        async with writing(self._engine) as connection:
            await connection.execute(leases.delete().where(leases.c.name == name, leases.c.holder == self.holder))

    async def holders(self) -> dict[str, str]:
        """Every lease not yet expired, and who holds it (for the operators' view)."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                sa.select(leases.c.name, leases.c.holder).where(leases.c.expires_at >= self._clock())
            )
            return {name: holder for name, holder in rows}
