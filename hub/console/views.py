"""What the console's pages show, made from what the stores answer (pure): the traffic of the last hour as chart
series, the message browser's filters and paging, receivers with their circuits, a message's timeline in words.

No I/O here: hub.console.routes reads the stores and hands the answers to these functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from hub.console.charts import Series
from hub.domain.identifiers import cpr_problem
from hub.domain.status import MessageStatus
from hub.route.register import Organisation
from hub.track.store import MessageQuery, TrafficCount

HOUR_MINUTES = 60
PAGE_SIZE = 50
NOTHING = "\N{EN DASH}"  # what a page shows for a value there is not

# the chart's colours of the message statuses: the good ends green and blue, the bad ones warm
STATUS_COLOURS = {
    MessageStatus.ACKNOWLEDGED: "#009e73",
    MessageStatus.DELIVERED: "#0072b2",
    MessageStatus.ROUTED: "#56b4e9",
    MessageStatus.RECEIVED: "#999999",
    MessageStatus.FAILED: "#d55e00",
    MessageStatus.REJECTED: "#e69f00",
}


# --- the overview -------------------------------------------------------------------------------------------


def last_minutes(now: datetime, minutes: int = HOUR_MINUTES) -> list[str]:
    """The minutes up to and including `now`'s, oldest first, as the tracking store names them (``…T21:15``)."""
    now = now.astimezone(UTC).replace(second=0, microsecond=0)
    return [(now - timedelta(minutes=minutes - 1 - i)).strftime("%Y-%m-%dT%H:%M") for i in range(minutes)]


def traffic_series(
    counts: Iterable[TrafficCount], minutes: Sequence[str], *, by: Literal["status", "connector"]
) -> list[Series]:
    """One series per status (in the order of a message's life) or per connector (by name), one value per minute;
    counts outside `minutes` are left out."""
    slot = {m: i for i, m in enumerate(minutes)}
    layers: dict[str, list[int]] = {}
    for count in counts:
        i = slot.get(count.minute)
        if i is None:
            continue
        name = count.status if by == "status" else count.connector
        layers.setdefault(name, [0] * len(minutes))[i] += count.count
    if by == "status":
        order = [str(s) for s in STATUS_COLOURS]
        names = sorted(layers, key=lambda n: (order.index(n) if n in order else len(order), n))
        return [
            Series(n, tuple(layers[n]), STATUS_COLOURS.get(MessageStatus(n), "") if n in order else "") for n in names
        ]
    return [Series(n, tuple(layers[n])) for n in sorted(layers)]


def minute_labels(minutes: Sequence[str]) -> list[str]:
    """``HH:MM`` of each minute, for under the bars."""
    return [m[11:16] for m in minutes]


@dataclass(frozen=True, slots=True)
class ReceiverRow:
    id: str
    name: str
    kind: str
    endpoint: str
    accepts: list[str]
    circuit: str
    parked: int
    in_flight: int

    @property
    def troubled(self) -> bool:
        return self.circuit == "open" or self.parked > 0


def receiver_rows(
    organisations: Iterable[Organisation], circuits: Mapping[str, Mapping[str, Any]]
) -> list[ReceiverRow]:
    """Every organisation of the register with its delivery circuit (closed, nothing parked, when it has none yet)."""
    rows = []
    for o in organisations:
        state = circuits.get(o.id, {})
        rows.append(
            ReceiverRow(
                id=o.id,
                name=o.name,
                kind=str(o.kind),
                endpoint=str(o.endpoint.kind),
                accepts=sorted(o.accepts),
                circuit=str(state.get("circuit", "closed")),
                parked=int(state.get("parked", 0)),
                in_flight=int(state.get("in_flight", 0)),
            )
        )
    return rows


def duration_text(seconds: float | None) -> str:
    """A duration as people read it: ``0.42 s``, ``12 s``, ``3.5 min``, ``2.1 h``; a dash for none."""
    if seconds is None:
        return NOTHING
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def time_text(value: str | None, *, precise: bool = False) -> str:
    """An ISO 8601 instant of the store as ``2026-12-06 21:15:45`` (UTC, as the console shows every time); `precise`
    adds the milliseconds (``21:15:45.123``), which tell a message's steps apart."""
    if not value:
        return NOTHING
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return value
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    text = instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{instant.microsecond // 1000:03d}" if precise else text


# --- the message browser --------------------------------------------------------------------------------------

FILTER_FIELDS = ("status", "event", "sender", "receiver", "patient", "message_id", "since", "until", "overdue")


@dataclass(frozen=True, slots=True)
class MessageFilters:
    """The browser's filters as typed (to show them again) and as the tracking store's query."""

    values: dict[str, str]
    query: MessageQuery
    errors: list[str] = field(default_factory=list)

    def params(self, **changes: object) -> str:
        """The query string of this search, with `changes` (another offset, say)."""
        values: dict[str, object] = {k: v for k, v in self.values.items() if v}
        values.update({k: v for k, v in changes.items() if v not in (None, "")})
        return urlencode(values)


def _instant(text: str) -> str:
    """A browser's ``datetime-local`` (taken as UTC) or an ISO 8601 instant, as the store's UTC text."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def message_filters(params: Mapping[str, str], *, sees_patients: bool, limit: int = PAGE_SIZE) -> MessageFilters:
    """The filters of a request to the message browser; a faulty one is left out of the query and named in
    `errors`. The patient filter is there only for those who see patients (from the operator role up)."""
    values = {name: (params.get(name) or "").strip() for name in FILTER_FIELDS}
    errors: list[str] = []
    status = values["status"] or None
    if status is not None and status not in {str(s) for s in MessageStatus}:
        errors.append(f"there is no status {status!r}")
        status = None
    patient = values["patient"] or None
    if patient is not None and not sees_patients:
        errors.append("searching by patient needs the operator role")
        values["patient"], patient = "", None
    elif patient is not None and (problem := cpr_problem(patient)):
        errors.append(f"patient: {problem}")
        values["patient"], patient = "", None
    times: dict[str, str | None] = {}
    for name in ("since", "until"):
        try:
            times[name] = _instant(values[name]) if values[name] else None
        except ValueError:
            errors.append(f"{name}: not a date and time ({values[name]!r})")
            times[name] = None
    overdue = values["overdue"] in ("1", "on", "true")
    values["overdue"] = "1" if overdue else ""
    try:
        offset = max(0, int(params.get("offset") or 0))
    except ValueError:
        offset = 0
    query = MessageQuery(
        status=status,
        event=values["event"] or None,
        sender=values["sender"] or None,
        receiver=values["receiver"] or None,
        patient=patient or None,
        message_id=values["message_id"] or None,
        since=times["since"],
        until=times["until"],
        overdue=overdue,
        limit=limit,
        offset=offset,
    )
    return MessageFilters(values, query, errors)


@dataclass(frozen=True, slots=True)
class Paging:
    first: int  # 1-based number of the first row shown (0 when none)
    last: int
    total: int
    previous_offset: int | None
    next_offset: int | None


def paging(total: int, *, limit: int, offset: int, shown: int) -> Paging:
    return Paging(
        first=offset + 1 if shown else 0,
        last=offset + shown,
        total=total,
        previous_offset=max(0, offset - limit) if offset > 0 else None,
        next_offset=offset + limit if offset + shown < total else None,
    )


# --- one message ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineRow:
    at: str
    step: str
    receiver: str
    detail: str


def detail_text(detail: Mapping[str, Any]) -> str:
    """A step's detail in one line: ``key: value`` pairs; a routing step's receivers as ``receiver (use, reason)``."""
    parts = []
    for key, value in detail.items():
        if key == "receivers" and isinstance(value, list):
            listed = [
                f"{r.get('receiver')} ({', '.join(str(r[k]) for k in ('use', 'reason') if r.get(k))})"
                for r in value
                if isinstance(r, dict)
            ]
            parts.append("receivers: " + "; ".join(listed))
        elif isinstance(value, dict | list) or value not in (None, ""):
            parts.append(f"{key}: {value}")
    return " · ".join(parts)


def outcome_lines(outcome: Any) -> list[str]:
    """A rejection's OperationOutcome as lines people read: ``error invalid at Bundle.entry[0]: diagnostics``."""
    if not isinstance(outcome, Mapping):
        return []
    lines = []
    for issue in outcome.get("issue") or []:
        if isinstance(issue, Mapping):
            where = ", ".join(str(e) for e in issue.get("expression") or [])
            head = " ".join(str(issue[k]) for k in ("severity", "code") if issue.get(k))
            lines.append(f"{head}{f' at {where}' if where else ''}: {issue.get('diagnostics', '')}")
    return lines


def timeline_rows(timeline: Iterable[Mapping[str, Any]]) -> list[TimelineRow]:
    return [
        TimelineRow(
            at=time_text(s.get("at"), precise=True),
            step=str(s.get("step", "")),
            receiver=str(s.get("receiver") or ""),
            detail=detail_text(s.get("detail") or {}),
        )
        for s in timeline
    ]


# --- dead letters ---------------------------------------------------------------------------------------------


def redrive_question(count: int, receiver: str | None) -> str:
    """What the confirmation page asks: ``Redrive 3 dead letters of gp-x?``."""
    noun = "dead letter" if count == 1 else "dead letters"
    return f"Redrive {count} {noun}" + (f" of {receiver}" if receiver else "") + "?"


def dead_letter_ids(values: Iterable[str]) -> list[int]:
    """The chosen dead letters' ids from a form (checkboxes), each once, in the order given; junk left out."""
    seen: list[int] = []
    for value in values:
        if value.strip().isdigit() and int(value) not in seen and len(value.strip()) <= 18:
            seen.append(int(value))
    return seen
