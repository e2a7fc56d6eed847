"""Subscriptions need sense and a basis, against a real hub process: the API refuses one that could never deliver
(naming the field) and one outside the register's subscription policy (naming the rule); one inside the policy
shows its basis, and a message routed through it shows the basis in the routed step. A register file whose seeded
subscription breaks the policy stops the hub with a message naming the entry.

The test register's policy (tests/integration/hubtest.py TEST_SUBSCRIPTION_POLICY): municipalities may subscribe to
hospital notifications about their own residents, GPs to those about their listed patients.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from hub.broker.embedded import EmbeddedBroker, free_port
from tests.integration.hubtest import HubProcess, eventually, running_hub, wait_for_status
from tests.integration.test_fhir_subscriptions import send_about_resident

pytestmark = pytest.mark.integration

HN = "hospital-notification-message"
RESIDENT = "0202802345"  # lives in 101 (forward-receiver's municipality)


def write_patients(path: Path) -> Path:
    path.write_text(yaml.safe_dump({"patients": [{"cpr": RESIDENT, "municipality_code": "101"}]}), encoding="utf-8")
    return path


async def refused(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """The single issue of the 400 OperationOutcome the API answers `body` with."""
    response = await api.post("/api/subscriptions", json=body)
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    [issue] = outcome["issue"]
    assert isinstance(issue, dict)
    return issue


async def test_nonsense_and_subscriptions_outside_the_policy_are_refused_and_the_basis_is_shown(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    async with (
        running_hub(
            bootstrap_servers=broker.bootstrap_servers,
            workdir=tmp_path / "hub",
            topic_prefix="policy.",
            HUB_PATIENT_REGISTER_FILE=str(write_patients(tmp_path / "patients.yaml")),
        ) as hub,
        httpx.AsyncClient(base_url=hub.url, timeout=30) as api,
    ):
        residents = {"receiver": "forward-receiver", "topic": HN, "filters": {"municipality_code": "101"}}

        # --- nonsense: could never deliver ---------------------------------------------------------------
        closed = await refused(api, {"receiver": "closed-gp", "topic": HN, "filters": {"gp_list": "self"}})
        assert closed["expression"] == ["receiver"]
        assert "does not accept hospital-notification-message" in closed["diagnostics"]
        assert "accepts acknowledgement-message" in closed["diagnostics"]

        activity = await refused(
            api, {**residents, "filters": {"municipality_code": "101", "activity": ["new-message"]}}
        )
        assert activity["expression"] == ["filters.activity"]
        assert "'new-message' is not a MedCom activity code of hospital-notification-message" in activity["diagnostics"]
        assert "admit-inpatient" in activity["diagnostics"]  # what would be right

        criteria = await refused(
            api, {**residents, "filters": {"municipality_code": "101", "criteria": "Bundle.timestamp > 5"}}
        )
        assert criteria["expression"] == ["filters.criteria"]
        assert criteria["diagnostics"].startswith("fails on the trial message hospital-notification-message/")

        # --- outside the policy ------------------------------------------------------------------------
        elsewhere = await refused(api, {**residents, "filters": {"municipality_code": "163"}})
        assert elsewhere["code"] == "business-rule"
        assert elsewhere["expression"] == ["filters.municipality_code"]
        assert "breaks rule municipality-of-residence" in elsewhere["diagnostics"]
        assert "must be 101 (forward-receiver's own municipality), not 163" in elsewhere["diagnostics"]
        care = await refused(
            api,
            {"receiver": "messaging-receiver", "topic": "care-communication-message", "filters": {"gp_list": "self"}},
        )
        assert care["expression"] == ["topic"]
        assert "rule gp-listed-patients: a gp may subscribe to hospital-notification-message" in care["diagnostics"]
        assert (await api.get("/api/subscriptions")).json()["total"] == 0

        # --- inside: created with its basis ---------------------------------------------------------------
        response = await api.post("/api/subscriptions", json={**residents, "id": "residents-101"})
        assert response.status_code == 201, response.text
        basis = response.json()["basis"]
        assert basis.startswith("municipality-of-residence: MedCom HospitalNotification guideline")
        assert (await api.get("/api/subscriptions/residents-101")).json()["basis"] == basis
        listed = (await api.get("/api/subscriptions")).json()["subscriptions"]
        assert [(s["id"], s["basis"]) for s in listed] == [("residents-101", basis)]

        # --- a message routed through it names the basis in the routed step -------------------------------
        message_id, tracking_id = await send_about_resident(hub, api)
        await wait_for_status(api, tracking_id, "acknowledged", timeout=90)
        record = (await api.get(f"/api/messages/{tracking_id}")).json()
        [routed] = [step for step in record["timeline"] if step["step"] == "routed"]
        receivers = {r["receiver"]: r for r in routed["detail"]["receivers"]}
        assert receivers["forward-receiver"]["use"] == "subscription"
        assert receivers["forward-receiver"]["basis"] == basis
        assert "basis" not in receivers["plejecenter-herlev"]  # addressed by the sender
        await eventually(
            lambda: message_id in {r.facts.message_id for r in hub.receivers.received.get("forward-receiver", [])}
        )

        # --- a seeded subscription outside the policy stops the hub, naming the entry ----------------------
        register_file = Path(hub.process.env["HUB_REGISTER_FILE"])
        content = yaml.safe_load(register_file.read_text(encoding="utf-8"))
        content["subscriptions"] = [{"id": "elsewhere", **{**residents, "filters": {"municipality_code": "163"}}}]
        faulty = tmp_path / "faulty-register.yaml"
        faulty.write_text(yaml.safe_dump(content, sort_keys=False, allow_unicode=True), encoding="utf-8")
        port = free_port()
        seeded = HubProcess(
            {**hub.process.env, "HUB_REGISTER_FILE": str(faulty), "HUB_PORT": str(port)},
            f"http://127.0.0.1:{port}",
            tmp_path / "faulty-hub.log",
        )
        with pytest.raises(RuntimeError, match="hub exited with") as stopped:
            await seeded.start()
        assert "subscriptions[0].filters.municipality_code" in str(stopped.value)
        assert "breaks rule municipality-of-residence" in str(stopped.value)
