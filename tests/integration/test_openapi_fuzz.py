"""No 500 from any generated input: schemathesis against a running hub's own ``/openapi.json``.

Every operation of the description (operator API, subscriptions, dead letters, mailbox, ingest, health, metrics)
gets requests that fit its schema and requests that do not (wrong types, out-of-range integers, missing or
extra parameters, malformed bodies), with valid tokens: the operator token for ``/api``, an organisation's token
for the mailbox and ingest. No answer may be a 5xx, and every 4xx must be a FHIR OperationOutcome.

The hub under test is this module's own (subscriptions and redrives made here touch no other test), with an
operator token as in production. The examples run in a thread with a blocking client, as schemathesis calls,
while the receivers in this test process's event loop keep answering. The number of examples is bounded, so
that the whole run takes well under two minutes on two cores.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.core.result import Err

from tests.integration.hubtest import OPERATOR_TOKEN, HubUnderTest

Operation = APIOperation[Any, Any, Any, Any]
GeneratedCase = Case[Operation]

pytestmark = pytest.mark.integration

ORGANISATION = "mailbox-gp"  # a receiver with a mailbox, and a sender like any organisation
EXAMPLES_PER_MODE = 25  # generated per operation, once for data that fits and once for data that does not
INGEST_EXAMPLES = 10  # posts to /fhir/$process-message: bounded, the hub is not to be flooded
OPERATIONS_AT_LEAST = 15


@dataclass
class Findings:
    calls: int = 0
    faults: list[str] = field(default_factory=list)

    def judge(self, case: GeneratedCase, response: schemathesis.Response) -> None:
        """A 5xx, or a 4xx that is not an OperationOutcome in FHIR JSON, is a fault."""
        self.calls += 1
        where = f"{case.method} {response.request.url} -> {response.status_code}"
        text = response.content[:300].decode(errors="replace")
        if response.status_code >= 500:
            self.faults.append(f"{where}: {text}")
        elif response.status_code >= 400:
            content_type = (response.headers.get("content-type") or [""])[0]
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                body = None
            if not content_type.startswith("application/fhir+json") or not (
                isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" and body.get("issue")
            ):
                self.faults.append(f"{where}: not an OperationOutcome ({content_type}): {text}")


def token_for(operation: Operation, hub: HubUnderTest) -> str:
    return OPERATOR_TOKEN if operation.path.startswith("/api") else hub.token(ORGANISATION)


def has_inputs(operation: Operation) -> bool:
    """Whether there is anything to get wrong: parameters or a body (else no request can fail to fit)."""
    return bool(list(operation.iter_parameters())) or bool(operation.body)


def fuzz(operation: Operation, mode: GenerationMode, hub: HubUnderTest, findings: Findings) -> None:
    examples = INGEST_EXAMPLES if operation.path.startswith("/fhir") else EXAMPLES_PER_MODE
    headers = {"Authorization": f"Bearer {token_for(operation, hub)}"}
    session = requests.Session()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests every run: a fault found once is found again
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: GeneratedCase) -> None:
        findings.judge(case, case.call(base_url=hub.url, session=session, headers=headers, timeout=30))

    try:
        run()
    finally:
        session.close()


def cover(schema: BaseSchema, operation: Operation, hub: HubUnderTest, findings: Findings) -> None:
    """Schemathesis's coverage cases: each parameter at and just past its bounds, wrong types, missing and
    duplicate parameters, methods the path does not have."""
    headers = {"Authorization": f"Bearer {token_for(operation, hub)}"}
    generation = schema.config.generation_for(operation=operation, phase="coverage")
    with requests.Session() as session:
        for case in schema.iter_coverage_cases(
            operation, generation_modes=list(GenerationMode), generation_config=generation
        ):
            findings.judge(case, case.call(base_url=hub.url, session=session, headers=headers, timeout=30))


def fuzz_everything(hub: HubUnderTest) -> tuple[Findings, list[str], list[str]]:
    """Findings, the operations fuzzed, and those for which no request that does not fit could be made."""
    schema = schemathesis.openapi.from_url(f"{hub.url}/openapi.json", timeout=30)
    findings = Findings()
    labels, always_fit = [], []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        labels.append(label)
        cover(schema, operation, hub, findings)
        fuzz(operation, GenerationMode.POSITIVE, hub, findings)
        if has_inputs(operation):
            try:
                fuzz(operation, GenerationMode.NEGATIVE, hub, findings)
            except Unsatisfiable:  # only optional strings, say: whatever is sent fits
                always_fit.append(label)
    return findings, labels, always_fit


@pytest.mark.timeout(240)
async def test_no_generated_request_gets_a_5xx_and_every_4xx_is_an_operation_outcome(guarded_hub: HubUnderTest) -> None:
    findings, operations, always_fit = await asyncio.to_thread(fuzz_everything, guarded_hub)
    print(f"{findings.calls} requests to {len(operations)} operations; no unfitting request for {always_fit}")
    # every part of the interface was reached
    assert len(operations) >= OPERATIONS_AT_LEAST, operations
    for expected in (
        "GET /api/messages",
        "GET /mailbox/{item_id}",
        "POST /api/dead-letters/{dead_letter_id}/redrive",
        "POST /api/subscriptions",
        "POST /fhir/$process-message",
    ):
        assert expected in operations
    assert findings.calls >= len(operations) * 25
    assert not findings.faults, "\n".join(findings.faults[:20])
    assert (await asyncio.to_thread(requests.get, f"{guarded_hub.url}/readyz", timeout=10)).status_code == 200
