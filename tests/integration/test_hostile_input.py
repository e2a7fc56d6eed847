"""Hostile and malformed input through a running hub: no 500, no hang, no crash, and every good message sent
between the bad ones ends acknowledged.

Hypothesis makes the bad inputs (malformed JSON, invalid UTF-8, NUL bytes, duplicate keys, deep nesting, huge
strings, numbers like 1e999, wrong JSON types anywhere in a real MedCom message, mutated MedCom messages). They are
posted from a known sender's token, so they pass authentication and reach every layer behind it. The examples run
in a thread with a blocking client, so the receivers (in this test process's event loop) keep acknowledging.
"""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.integration.hubtest import HubUnderTest, eventually, message_status, stin_template
from tests.integration.hubtest import fresh_message as fresh

pytestmark = pytest.mark.integration

SENDER = "herlev-hjerte"
GOOD_EVERY = 8  # a good message after this many hostile ones
FINAL = {"acknowledged", "delivered", "rejected", "failed"}
# what the hub may answer a hostile message with; 500 and anything else unlisted is a fault
EXPECTED_STATUSES = {202, 400, 403, 413, 415}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and indexes) to a value inside a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> None:
    holder = document
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


@st.composite
def wrong_type_somewhere(draw: st.DrawFn, template: dict[str, Any]) -> bytes:
    bundle = fresh(template)
    path = draw(st.sampled_from(_paths(bundle)))
    _replace(bundle, path, draw(json_values))
    return json.dumps(bundle, ensure_ascii=False).encode()  # orjson cannot write integers beyond 64 bits


@st.composite
def removed_somewhere(draw: st.DrawFn, template: dict[str, Any]) -> bytes:
    bundle = fresh(template)
    path = draw(st.sampled_from(_paths(bundle)))
    holder = bundle
    for step in path[:-1]:
        holder = holder[step]
    del holder[path[-1]]
    return orjson.dumps(bundle)


@st.composite
def odd_primitive_somewhere(draw: st.DrawFn, template: dict[str, Any]) -> bytes:
    """A string value replaced by text that breaks primitive formats: the 'T' timestamps, NUL, huge, odd."""
    bundle = fresh(template)
    strings = [p for p in _paths(bundle) if isinstance(_get(bundle, p), str)]
    path = draw(st.sampled_from(strings))
    odd = draw(
        st.sampled_from(["T", "2026T", "2026-13-45T99:99:99+99:99", "\x00", "a\x00b", "", " ", "-0", "1e999", "\ud7ff"])
        | st.text(min_size=1, max_size=30)
        | st.just("x" * 70_000)
    )
    _replace(bundle, path, odd)
    return orjson.dumps(bundle)


def with_timestamp(template: dict[str, Any], timestamp: str) -> bytes:
    bundle = fresh(template)
    bundle["timestamp"] = timestamp
    return orjson.dumps(bundle)


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


@st.composite
def duplicate_key_somewhere(draw: st.DrawFn, template: dict[str, Any]) -> bytes:
    """A key given twice in the text, the first value a stranger's: FHIR JSON forbids it."""
    bundle = fresh(template)
    text = orjson.dumps(bundle, option=orjson.OPT_INDENT_2).decode()
    marker = '"reference": '
    places = [i for i in range(len(text)) if text.startswith(marker, i)]
    at = draw(st.sampled_from(places))
    return (text[:at] + '"reference": "Organization/stranger",\n' + text[at:]).encode()


@st.composite
def broken_bytes(draw: st.DrawFn, template: dict[str, Any]) -> bytes:
    raw = orjson.dumps(fresh(template))
    kind = draw(st.sampled_from(["truncate", "invalid-utf8", "nul", "flip", "deep", "huge-number", "garbage"]))
    if kind == "truncate":
        return raw[: draw(st.integers(min_value=0, max_value=len(raw) - 1))]
    if kind == "invalid-utf8":
        at = draw(st.integers(min_value=1, max_value=len(raw) - 2))
        return raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"])) + raw[at:]
    if kind == "nul":
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        return raw[:at] + b"\x00" + raw[at:]
    if kind == "flip":
        at = draw(st.integers(min_value=0, max_value=len(raw) - 1))
        return raw[:at] + bytes([raw[at] ^ draw(st.integers(min_value=1, max_value=255))]) + raw[at + 1 :]
    if kind == "deep":
        depth = draw(st.sampled_from([101, 1_000, 100_000]))
        return b'{"resourceType":"Bundle","x":' + b"[" * depth + b"]" * depth + b"}"
    if kind == "huge-number":
        number = draw(st.sampled_from([b"1e999", b"-1e999", b"9" * 5000, b"1.0e-99999", b"-0"]))
        return raw.replace(b'"type":"message"', b'"type":' + number, 1)
    return draw(st.binary(max_size=2000))


def hostile_inputs(template: dict[str, Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        wrong_type_somewhere(template),
        removed_somewhere(template),
        odd_primitive_somewhere(template),
        duplicate_key_somewhere(template),
        broken_bytes(template),
    )


def _is_outcome(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("resourceType") == "OperationOutcome"


async def test_hostile_messages_never_stop_the_hub_and_good_ones_between_them_are_acknowledged(
    hub: HubUnderTest, api: httpx.AsyncClient, example_paths: list[Path]
) -> None:
    template = stin_template(example_paths)
    headers = {"Authorization": f"Bearer {hub.token(SENDER)}", "Content-Type": "application/fhir+json"}
    accepted: list[str] = []  # tracking ids of hostile messages the hub took (202): each must end somewhere
    good: list[str] = []
    faults: list[str] = []

    def send(client: httpx.Client, raw: bytes) -> httpx.Response:
        return client.post("/fhir/$process-message", content=raw, headers=headers)

    def run_examples() -> None:
        sent = 0
        with httpx.Client(base_url=hub.url, timeout=60) as client:

            @settings(
                max_examples=160,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(raw=hostile_inputs(template))
            @example(raw=with_timestamp(template, "T"))  # made the validator raise and stopped all ingress
            @example(raw=with_timestamp(template, "2026T"))
            def post_hostile(raw: bytes) -> None:
                nonlocal sent
                response = send(client, raw)
                if response.status_code not in EXPECTED_STATUSES or not _is_outcome(response):
                    faults.append(f"{response.status_code}: {response.text[:300]}")
                elif response.status_code == 202:
                    accepted.append(response.headers["X-Hub-Tracking-Id"])
                sent += 1
                if sent % GOOD_EVERY == 0:
                    answer = send(client, orjson.dumps(fresh(template)))
                    assert answer.status_code == 202, answer.text
                    good.append(answer.headers["X-Hub-Tracking-Id"])

            post_hostile()

    await asyncio.to_thread(run_examples)

    assert not faults, "answers that were not an OperationOutcome with an expected status:\n" + "\n".join(faults[:10])
    assert len(good) >= 10
    assert hub.process.process is not None and hub.process.process.poll() is None, hub.process.log_tail()
    assert (await api.get("/readyz")).status_code == 200

    async def status_of(tracking_id: str) -> str | None:
        found = await message_status(api, tracking_id)
        return found.get("status") if found else None

    for tracking_id in good:
        assert await eventually(functools.partial(_has_status, status_of, tracking_id, {"acknowledged"}), timeout=120)
    for tracking_id in accepted:  # nothing accepted is lost: every hostile message the hub took ends somewhere
        assert await eventually(functools.partial(_has_status, status_of, tracking_id, FINAL), timeout=120)


async def _has_status(status_of: Any, tracking_id: str, wanted: set[str]) -> bool:
    return (await status_of(tracking_id)) in wanted
