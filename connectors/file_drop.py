"""The file-drop connector: a watched directory for senders that deliver MedCom messages in batches.

Layout::

    <directory>/
        <sender>/incoming/*.json     the sender writes its messages here (one FHIR JSON Bundle per file;
        <sender>/incoming/*.xml      or one FHIR XML Bundle per file)
        <sender>/done/               published files, moved here unchanged
        <sender>/error/              refused files, each with <name>.outcome.json (an OperationOutcome) beside it
        .journal/                    the connector's own bookkeeping (see restart safety)

``<sender>`` is the organisation's register id or its SOR code. A file carries no token: **the directory's
permissions are the authentication.** Only the sending organisation's account (e.g. its SFTP chroot) may
write ``<sender>/incoming``, the hub reads it; whoever can write there speaks for that organisation. The
message's MessageHeader.sender must still be that organisation, or the file is refused (as HTTP ingest's 403).

When a file is complete: the sender writes under a temporary name (a leading ``.``, or ending in ``.tmp`` or
``.part``; these are never read) and renames it to ``*.json`` (or ``*.xml``) when done, which is atomic on one
file system. As a safety net for senders that write in place, a file is only taken once its size and modification time
were the same at two polls in a row. Files with other names are refused to ``error/`` once stable.

Each file goes through the hub's intake (`connectors.intake`: the checks HTTP ingest makes, archived first) and
is published to the ingress topic as it is (connector ``file``, raw bytes unchanged, key = patient), then moved
to ``done/``. A file is refused to ``error/`` when it is larger than ``max_bytes``, not JSON, not a
Bundle, names another sender, or its directory names no organisation the register knows. Nothing is deleted;
a name already taken in ``done/`` or ``error/`` gets a number (``name.1.json``).

Restart safety: a file moves to ``done/`` only after the broker stored it. Between the two, a marker
``.journal/<sha256 of the bytes>`` records that it was published; it is removed after the move. After a
crash between publishing and moving, the marker tells the restarted connector to move the file without
publishing it again. (A crash in the moment between the broker's acknowledgement and the marker's write
publishes the file again; the hub recognises the resend by its MessageHeader.id.) Files of a sender are taken
oldest first, so a batch keeps its order. When the broker does not take a file, it stays in ``incoming/`` and
the batch resumes with it at a later poll. When the hub stops, the file in hand is finished and the rest waits.
Only one process may watch a directory: a lock on ``.journal/lock`` keeps a second one idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISLNK, S_ISREG
from typing import IO, Any, Final

import orjson
import structlog

from connectors.intake import Intake, Refusal, Refused, check
from hub.domain.outcome import Issue, error, operation_outcome
from hub.domain.tracking import utc_now
from hub.fhirxml.media import FHIR_JSON, FHIR_XML
from hub.observe.metrics import REFUSED, count_message
from hub.route.register import Organisation

log = structlog.get_logger(__name__)

SenderLookup = Callable[[str], Organisation | None]

INCOMING: Final = "incoming"
DONE: Final = "done"
ERROR: Final = "error"
JOURNAL: Final = ".journal"
TEMPORARY_SUFFIXES: Final = (".tmp", ".part")
FILE_FORMATS: Final = {".json": FHIR_JSON, ".xml": FHIR_XML}  # a file's name says which FHIR format it is in
DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024


@dataclass
class PollReport:
    """What one poll did, by file name."""

    published: list[str] = field(default_factory=list)
    moved_without_publishing: list[str] = field(default_factory=list)  # published before a restart
    refused: list[str] = field(default_factory=list)
    waiting: int = 0  # files seen for the first time or still changing


class FileDrop:
    """Polls `directory` for complete files and publishes each (see the module docstring)."""

    def __init__(
        self,
        directory: Path | str,
        *,
        sender_for: SenderLookup,
        intake: Intake,
        poll_interval: float = 1.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        """`intake` checks, archives and publishes each file (`connectors.intake`)."""
        self.directory = Path(directory)
        self.poll_interval = poll_interval
        self.max_bytes = max_bytes
        self._intake = intake
        self._sender_for = sender_for
        self._seen: dict[Path, tuple[int, int]] = {}  # path -> (size, mtime_ns) at the last poll
        self._lock: IO[bytes] | None = None
        self._recovered = False
        self._stop: asyncio.Event | None = None

    @property
    def journal(self) -> Path:
        return self.directory / JOURNAL

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll until `stop` is set (the file being published is finished first) or the task is cancelled."""
        stop = stop or asyncio.Event()
        self._stop = stop
        try:
            while not stop.is_set():
                try:
                    await self.poll_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("file drop poll failed; retrying", directory=str(self.directory))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)
        finally:
            self.close()

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    async def poll_once(self) -> PollReport:
        """One pass over every sender's incoming directory."""
        report = PollReport()
        if not self._acquire():
            return report
        if not self._recovered:
            self._recover()
            self._recovered = True
        present: set[Path] = set()
        for sender_dir in sorted(self.directory.iterdir()):
            if not sender_dir.is_dir() or sender_dir.name.startswith("."):
                continue
            incoming = sender_dir / INCOMING
            if not incoming.is_dir():
                continue
            for path, stamp in self._complete_files(incoming, present, report):
                if self._stop is not None and self._stop.is_set():
                    return report  # the hub is stopping; the rest waits in incoming
                if not await self._take(sender_dir.name, path, stamp, report):
                    return report  # the broker is not taking messages: try again at the next poll
        self._seen = {path: stamp for path, stamp in self._seen.items() if path in present}
        return report

    # --- which files -------------------------------------------------------------------------------------

    def _complete_files(
        self, incoming: Path, present: set[Path], report: PollReport
    ) -> list[tuple[Path, tuple[int, int]]]:
        """Files of `incoming` unchanged since the last poll, oldest first."""
        stable: list[tuple[int, str, Path, tuple[int, int]]] = []
        for path in incoming.iterdir():
            name = path.name
            if name.startswith(".") or name.endswith(TEMPORARY_SUFFIXES):
                continue
            try:
                status = path.lstat()
            except FileNotFoundError:
                continue
            if not (S_ISREG(status.st_mode) or S_ISLNK(status.st_mode)):
                continue
            stamp = (status.st_size, status.st_mtime_ns)
            present.add(path)
            if self._seen.get(path) == stamp:
                stable.append((status.st_mtime_ns, name, path, stamp))
            else:
                self._seen[path] = stamp
                report.waiting += 1
        return [(path, stamp) for _, _, path, stamp in sorted(stable)]

    # --- one file ----------------------------------------------------------------------------------------

    async def _take(self, sender_name: str, path: Path, stamp: tuple[int, int], report: PollReport) -> bool:
        """Publish and move one file, or refuse it; False when publishing failed."""
        where = f"{sender_name}/{INCOMING}/{path.name}"
        organisation = self._sender_for(sender_name)
        if organisation is None:
            self._refuse(
                path,
                [error("security", None, f"the directory {sender_name!r} names no organisation the hub knows")],
                report,
            )
            return True
        if path.is_symlink():  # it could point anywhere the hub can read
            self._refuse(path, [error("security", None, "symbolic links are not read; drop the file itself")], report)
            return True
        content_type = FILE_FORMATS.get(path.suffix.lower())
        if content_type is None:
            self._refuse(path, [error("not-supported", None, "only *.json and *.xml files are read")], report)
            return True
        size = stamp[0]
        if size > self.max_bytes:
            self._refuse(
                path, [error("too-costly", None, f"the file is {size} bytes; the limit is {self.max_bytes}")], report
            )
            return True
        raw = await asyncio.to_thread(path.read_bytes)
        checked = check(
            raw,
            sender_sor=organisation.sor,
            authenticated_as=f"the directory {sender_name!r} is {organisation.id} (SOR {organisation.sor})",
            max_bytes=self.max_bytes,
            content_type=content_type,
        )
        if isinstance(checked, Refused):
            self._refuse(path, list(checked.issues), report)
            return True

        marker = self.journal / hashlib.sha256(raw).hexdigest()
        earlier = _read_marker(marker)
        if earlier is not None and earlier.get("file") == where:
            log.info("file published before a restart; moving it", file=where, tracking_id=earlier.get("tracking_id"))
            report.moved_without_publishing.append(path.name)
        else:
            taken = await self._intake.admit(checked, connector="file")
            if isinstance(taken, Refused):
                # every refusal after the checks is one to try again: the file stays, the batch resumes with it
                _log_not_taken(taken, file=where)
                return False
            tracking_id = taken.tracking_id
            _write_marker(marker, {"file": where, "tracking_id": tracking_id, "published_at": utc_now()})
            log.info("file published", file=where, tracking_id=tracking_id, sender=organisation.id)
            report.published.append(path.name)
        self._move_to_done(path)
        marker.unlink(missing_ok=True)
        self._seen.pop(path, None)
        return True

    def _move_to_done(self, path: Path) -> None:
        target_dir = path.parent.parent / DONE
        target_dir.mkdir(exist_ok=True)
        os.replace(path, _free_name(target_dir, path.name))

    def _refuse(self, path: Path, issues: list[Issue], report: PollReport) -> None:
        target_dir = path.parent.parent / ERROR
        target_dir.mkdir(exist_ok=True)
        target = _free_name(target_dir, path.name, also=".outcome.json")
        outcome = operation_outcome(issues, resource_id=str(uuid.uuid4()))
        Path(f"{target}.outcome.json").write_bytes(orjson.dumps(outcome, option=orjson.OPT_INDENT_2))
        os.replace(path, target)
        self._seen.pop(path, None)
        report.refused.append(path.name)
        count_message("file", REFUSED)
        log.warning(
            "file refused",
            file=f"{path.parent.parent.name}/{INCOMING}/{path.name}",
            moved_to=str(target.relative_to(self.directory)),
            reasons=[issue.diagnostics for issue in issues],
        )

    # --- journal and lock --------------------------------------------------------------------------------

    def _acquire(self) -> bool:
        if self._lock is not None:
            return True
        self.journal.mkdir(parents=True, exist_ok=True)
        handle = (self.journal / "lock").open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            log.warning("another process watches this file drop; this one stays idle", directory=str(self.directory))
            return False
        self._lock = handle
        return True

    def _recover(self) -> None:
        """Remove markers whose file is gone: moved to done/ after publishing, before the marker was removed."""
        for marker in self.journal.iterdir():
            if marker.name == "lock" or marker.name.endswith(".tmp"):
                continue
            content = _read_marker(marker)
            source = self.directory / str(content.get("file", "")) if content else None
            if source is None or not source.is_file():
                marker.unlink(missing_ok=True)


def _log_not_taken(refused: Refused, *, file: str) -> None:
    if refused.kind is Refusal.UNAVAILABLE:
        log.warning("file drop publish failed; the file stays in incoming", file=file, error=repr(refused.error))
    else:
        log.error("file drop publish failed; the file stays in incoming", file=file, exc_info=refused.error)


def _read_marker(marker: Path) -> dict[str, Any] | None:
    try:
        content = orjson.loads(marker.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return content if isinstance(content, dict) else None


def _write_marker(marker: Path, content: dict[str, Any]) -> None:
    """Write the marker durably: to a temporary name, flushed to disk, then renamed into place."""
    temporary = marker.with_name(marker.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(orjson.dumps(content))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, marker)
    with contextlib.suppress(OSError):  # some file systems cannot open a directory
        directory = os.open(marker.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _free_name(directory: Path, name: str, *, also: str = "") -> Path:
    """`directory/name`, or `directory/stem.N.suffix` when that (or its `also` companion) exists."""
    candidate = directory / name
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    number = 0
    while candidate.exists() or (also and Path(f"{candidate}{also}").exists()):
        number += 1
        candidate = directory / (f"{stem}.{number}.{suffix}" if suffix else f"{name}.{number}")
    return candidate
