"""The console's view models: the hour's minutes and chart series, the message browser's filters and paging,
receivers with their circuits, timelines and outcomes in words, the redrive question."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.console.views import (
    NOTHING,
    dead_letter_ids,
    detail_text,
    duration_text,
    last_minutes,
    message_filters,
    minute_labels,
    outcome_lines,
    paging,
    receiver_rows,
    redrive_question,
    time_text,
    traffic_series,
)
from hub.route.register import parse_register
from hub.track.store import TrafficCount

NOW = datetime(2026, 12, 6, 21, 15, 42, tzinfo=UTC)


def test_the_last_hour_is_sixty_minutes_ending_with_this_one() -> None:
    minutes = last_minutes(NOW)
    assert len(minutes) == 60 and minutes[0] == "2026-12-06T20:16" and minutes[-1] == "2026-12-06T21:15"
    assert minute_labels(minutes)[:2] == ["20:16", "20:17"]
    assert last_minutes(datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC), 2) == ["2025-12-31T23:59", "2026-01-01T00:00"]


def test_traffic_becomes_one_series_per_status_in_life_order_or_per_connector() -> None:
    minutes = ["2026-12-06T21:14", "2026-12-06T21:15"]
    counts = [
        TrafficCount("2026-12-06T21:14", "http", "failed", 1),
        TrafficCount("2026-12-06T21:14", "http", "acknowledged", 5),
        TrafficCount("2026-12-06T21:15", "mllp", "acknowledged", 2),
        TrafficCount("2026-12-06T21:15", "http", "acknowledged", 1),
        TrafficCount("2026-12-06T20:00", "http", "acknowledged", 99),  # before the hour: left out
    ]
    by_status = traffic_series(counts, minutes, by="status")
    assert [(s.name, s.values) for s in by_status] == [("acknowledged", (5, 3)), ("failed", (1, 0))]
    assert by_status[0].colour == "#009e73"
    by_connector = traffic_series(counts, minutes, by="connector")
    assert [(s.name, s.values) for s in by_connector] == [("http", (6, 1)), ("mllp", (0, 2))]


def test_filters_become_the_stores_query() -> None:
    filters = message_filters(
        {
            "status": "failed",
            "event": " care-communication-message ",
            "receiver": "gp-b",
            "patient": "0703594417",
            "since": "2026-12-06T09:00",
            "until": "2026-12-06T10:00:00+01:00",
            "overdue": "1",
            "offset": "50",
        },
        sees_patients=True,
    )
    query = filters.query
    assert filters.errors == []
    assert (query.status, query.event, query.receiver, query.patient) == (
        "failed",
        "care-communication-message",
        "gp-b",
        "0703594417",
    )
    assert query.since == "2026-12-06T09:00:00.000000+00:00" and query.until == "2026-12-06T09:00:00.000000+00:00"
    assert query.overdue and query.offset == 50 and query.limit == 50 and query.party is None
    assert "offset=100" in filters.params(offset=100) and "event=care-communication-message" in filters.params()


def test_faulty_filters_are_named_and_left_out() -> None:
    faulty = {"status": "lost", "patient": "12345", "since": "tomorrow", "offset": "x"}
    filters = message_filters(faulty, sees_patients=True)
    assert filters.errors == [
        "there is no status 'lost'",
        "patient: a CPR number is 10 digits",
        "since: not a date and time ('tomorrow')",
    ]
    query = filters.query
    assert (query.status, query.patient, query.since, query.offset) == (None, None, None, 0)


def test_the_viewer_role_may_not_filter_by_patient() -> None:
    filters = message_filters({"patient": "0703594417"}, sees_patients=False)
    assert filters.query.patient is None and filters.values["patient"] == ""
    assert filters.errors == ["searching by patient needs the operator role"]


def test_paging_says_which_rows_and_where_the_neighbours_are() -> None:
    assert paging(120, limit=50, offset=50, shown=50) == paging(120, limit=50, offset=50, shown=50)
    middle = paging(120, limit=50, offset=50, shown=50)
    assert (middle.first, middle.last, middle.previous_offset, middle.next_offset) == (51, 100, 0, 100)
    last = paging(120, limit=50, offset=100, shown=20)
    assert (last.first, last.last, last.next_offset) == (101, 120, None)
    none = paging(0, limit=50, offset=0, shown=0)
    assert (none.first, none.last, none.previous_offset, none.next_offset) == (0, 0, None, None)


def test_receivers_without_a_circuit_yet_are_closed_and_empty() -> None:
    register = parse_register(
        {
            "hub": {"name": "hub", "sor": "900000000000001"},
            "organisations": [
                {
                    "id": i,
                    "name": i,
                    "kind": "gp",
                    "sor": sor,
                    "endpoint": {"kind": "mailbox"},
                    "accepts": ["b-event", "a-event"],
                }
                for i, sor in (("gp-a", "200000000000001"), ("gp-b", "200000000000002"))
            ],
        },
        source="test",
    )
    rows = receiver_rows(register.organisations, {"gp-b": {"circuit": "open", "parked": 3, "in_flight": 1}})
    assert [(r.id, r.circuit, r.parked, r.in_flight, r.troubled) for r in rows] == [
        ("gp-a", "closed", 0, 0, False),
        ("gp-b", "open", 3, 1, True),
    ]
    assert rows[0].accepts == ["a-event", "b-event"] and rows[0].endpoint == "mailbox"


def test_durations_and_times_read_as_people_read_them() -> None:
    assert [duration_text(s) for s in (None, 0.4213, 12.4, 210, 9000)] == [
        NOTHING,
        "0.42 s",
        "12 s",
        "3.5 min",
        "2.5 h",
    ]
    assert time_text("2026-12-06T22:15:42.123456+01:00") == "2026-12-06 21:15:42"
    assert time_text("2026-12-06T21:15:42") == "2026-12-06 21:15:42"
    assert time_text("2026-12-06T21:15:42.123456+00:00", precise=True) == "2026-12-06 21:15:42.123"
    assert time_text(None) == NOTHING and time_text("soon") == "soon"


def test_a_steps_detail_and_a_rejections_outcome_in_words() -> None:
    routed = {"receivers": [{"receiver": "gp-b", "use": "primary", "reason": "destination"}], "note": None}
    assert detail_text(routed) == "receivers: gp-b (primary, destination)"
    assert detail_text({"attempt": 2, "status_code": 503}) == "attempt: 2 · status_code: 503"
    outcome = {"issue": [{"severity": "error", "code": "invalid", "expression": ["Bundle.type"], "diagnostics": "x"}]}
    assert outcome_lines(outcome) == ["error invalid at Bundle.type: x"]
    assert outcome_lines(None) == [] and outcome_lines({"issue": ["junk"]}) == []


def test_the_redrive_question_counts_and_names_the_receiver() -> None:
    assert redrive_question(3, "gp-x") == "Redrive 3 dead letters of gp-x?"
    assert redrive_question(1, None) == "Redrive 1 dead letter?"
    assert dead_letter_ids(["3", "1", "3", "x", "", "-2", "9" * 30]) == [3, 1]
