"""A throw-away PostgreSQL cluster for the tests: Debian's `postgresql` binaries, a new data directory, a free
loopback port, stopped (and its directory removed) when the session ends.

`make test` installs the package on a fresh machine. The cluster trusts local connections (it listens on
127.0.0.1 only and lives as long as the test session); each hub under test gets a database of its own.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hub.broker.embedded import free_port

SUPERUSER = "hub"


def postgres_bin() -> Path:
    """The directory of Debian's PostgreSQL server binaries (the newest installed major version)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL is not installed: run `make test` (it installs Debian's postgresql package)")


class Cluster:
    """One running PostgreSQL server; `new_database()` gives each caller a database of its own."""

    def __init__(self, directory: Path, port: int, run_as: str | None) -> None:
        self.directory = directory
        self.port = port
        self._run_as = run_as
        self._bin = postgres_bin()
        self._names = itertools.count(1)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def _run(self, *command: str) -> None:
        argv = [str(self._bin / command[0]), *command[1:]]
        if self._run_as:  # PostgreSQL refuses to run as root
            argv = ["runuser", "-u", self._run_as, "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, cwd=self.directory)

    def start(self) -> None:
        self.data.mkdir(parents=True)
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            for path in (self.directory, self.data):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        log = str(self.directory / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        name = f"hub_{os.getpid()}_{next(self._names)}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, name)
        return self.url(name)


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    run_as = "postgres" if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="hub-postgres-"))
    cluster = Cluster(directory, free_port(), run_as)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
