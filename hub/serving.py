"""Running the hub's HTTP server: uvicorn, with the signals left to us so that SIGTERM and Ctrl-C stop the
hub gracefully (intake first, then workers, then clients) and the process exits 0."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI


class HubServer(uvicorn.Server):
    """uvicorn without its own signal handling (it would re-raise SIGTERM after shutting down)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(app: FastAPI, *, host: str, port: int, grace_seconds: float) -> HubServer:
    return HubServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(grace_seconds) + 5,
        )
    )


async def serve_until_signalled(server: HubServer) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: setattr(server, "should_exit", True))
    await server.serve()
