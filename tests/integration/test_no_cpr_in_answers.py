"""No CPR number in what the hub shows or writes: messages carrying CPR numbers in odd places (ids, a JSON number, a
resource id, a key, a reference, an extension, a duplicate key) go through a real hub; no operator API answer
(/api/messages, each /api/messages/{id}, /api/dead-letters, /metrics) and no line of the hub's log has the digits."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from hub.simulate.generator import MessageGenerator
from tests.integration.hubtest import HubUnderTest, post_message, wait_for_status

pytestmark = pytest.mark.integration

FINAL = ("acknowledged", "rejected", "failed")


def _patient(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def _renamed(bundle: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The bundle with an id replaced everywhere (ids and the references to them)."""
    replaced: dict[str, Any] = orjson.loads(orjson.dumps(bundle).replace(old.encode(), new.encode()))
    return replaced


def _odd_places(cpr: str) -> dict[str, Callable[[dict[str, Any]], dict[str, Any] | bytes]]:
    dashed = f"{cpr[:6]}-{cpr[6:]}"

    def ids(bundle: dict[str, Any]) -> dict[str, Any]:
        header = bundle["entry"][0]["resource"]
        return _renamed(_renamed(bundle, bundle["id"], f"b{cpr}"), header["id"], cpr)

    def number(bundle: dict[str, Any]) -> dict[str, Any]:
        _patient(bundle)["identifier"][0]["value"] = int(cpr)
        return bundle

    def resource_id(bundle: dict[str, Any]) -> dict[str, Any]:
        return _renamed(bundle, _patient(bundle)["id"], cpr)

    def key(bundle: dict[str, Any]) -> dict[str, Any]:
        _patient(bundle)[cpr] = dashed
        return bundle

    def reference(bundle: dict[str, Any]) -> dict[str, Any]:
        encounter = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
        encounter["subject"] = {"reference": f"Patient/{dashed}"}
        return bundle

    def extension(bundle: dict[str, Any]) -> dict[str, Any]:
        _patient(bundle).setdefault("extension", []).append(
            {"url": f"http://example.org/fhir/{cpr}", "valueString": f"CPR {dashed}"}
        )
        return bundle

    def duplicate_key(bundle: dict[str, Any]) -> bytes:
        raw = orjson.dumps(bundle)
        return raw[:-1] + f',"{cpr}":1,"{cpr}":2}}'.encode()

    return {
        "ids": ids,
        "number": number,
        "resource id": resource_id,
        "key": key,
        "reference": reference,
        "extension": extension,
        "duplicate key": duplicate_key,
    }


async def test_no_answer_and_no_log_line_has_the_cpr(hub: HubUnderTest, api: httpx.AsyncClient) -> None:
    generator = MessageGenerator(seed=secrets.randbits(32))
    cpr = generator.fictional_cpr()
    dashed = f"{cpr[:6]}-{cpr[6:]}"
    hospital, municipality = hub.register.by_id("herlev-hjerte"), hub.register.by_id("plejecenter-herlev")
    assert hospital is not None and municipality is not None

    accepted: dict[str, str] = {}
    for name, change in _odd_places(cpr).items():
        message = generator.hospital_notification(
            sender=hospital.ref, receiver=municipality.ref, patient_cpr=cpr, event="STIN", now=datetime.now(UTC)
        )
        response = await post_message(api, change(message), token=hub.token("herlev-hjerte"))
        assert cpr not in response.text and dashed not in response.text, (name, response.text)
        if response.status_code == 202:
            accepted[name] = response.headers["X-Hub-Tracking-Id"]
        else:
            assert name == "duplicate key" and response.status_code == 400, (name, response.text)
    assert {"ids", "number", "resource id", "key", "reference", "extension"} <= set(accepted)

    answers: dict[str, str] = {}
    for name, tracking_id in accepted.items():
        await wait_for_status(api, tracking_id, *FINAL)
        answers[f"/api/messages/{tracking_id} ({name})"] = (await api.get(f"/api/messages/{tracking_id}")).text
    for url, params in (
        ("/api/messages", {"limit": "1000"}),
        ("/api/messages", {"patient": cpr, "limit": "1000"}),
        ("/api/dead-letters", {"include_redriven": "true", "limit": "1000"}),
        ("/metrics", {}),
    ):
        response = await api.get(url, params=params)
        assert response.status_code == 200, (url, response.text)
        answers[f"{url} {params}"] = response.text
    answers["the hub's log"] = hub.process.log_file.read_text(errors="replace")

    leaking = [where for where, text in answers.items() if cpr in text or dashed in text]
    assert leaking == []

    # the CPR numbers were there to be shown: the patient, the ids, the outcomes quote them masked
    by_patient = orjson.loads(answers[f"/api/messages {{'patient': '{cpr}', 'limit': '1000'}}"])
    assert set(accepted.values()) - {m["tracking_id"] for m in by_patient["messages"]} <= {accepted["number"]}
    assert all(m["patient"] in (f"{cpr[:6]}-xxxx", None) for m in by_patient["messages"])
    ids = orjson.loads(answers[f"/api/messages/{accepted['ids']} (ids)"])
    assert ids["message_id"] == f"{cpr[:6]}-xxxx"
    key = orjson.loads(answers[f"/api/messages/{accepted['key']} (key)"])
    assert key["status"] == "rejected"
    assert any(f"{cpr[:6]}-xxxx" in str(issue) for issue in key["outcome"]["issue"])
