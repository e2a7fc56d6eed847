"""``hub demo``: the embedded broker, the hub, simulated hospitals, municipalities and GPs.

The hub runs as it does anywhere: a child process (``python -m hub serve``) configured through HUB_* environment
variables, against the embedded broker (another child process). The simulated hospitals and receivers run in
this process. Everything runs until Ctrl-C (or SIGTERM): the simulators stop, the hub is stopped with SIGTERM
(SIGKILL when it has not finished in time), then the broker. Both children run in their own sessions, so a
Ctrl-C in the terminal reaches only the demo, which stops them in that order, and both are told by the kernel to
die with this process, so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

import hub
from hub.broker.clients import make_producer
from hub.broker.embedded import EmbeddedBroker, _die_with_parent, free_port
from hub.broker.topics import Topics
from hub.domain.message import MessageFacts
from hub.route.fhir_subscription import (
    BACKPORT_PROFILE,
    FILTER_CRITERIA,
    FULL_RESOURCE,
    HEARTBEAT_PERIOD,
    MESSAGE_CHANNEL,
    PAYLOAD,
    PAYLOAD_CONTENT,
    REST_HOOK_CHANNEL,
    TOPIC_BASE,
)
from hub.route.patients import generate_patient_register, write_patient_register
from hub.route.register import Register, load_register
from hub.settings import SCHEMAS_DIR, HubSettings
from hub.simulate.hospital import SimulatedHospitals, hl7_codes
from hub.simulate.municipality import SimulatedMunicipalities
from hub.simulate.receivers import Behaviour, Reply, SimulatedReceivers

DEMO_REGISTER = SCHEMAS_DIR / "demo-register.yaml"


def demo_tokens(register: Register) -> dict[str, str]:
    """The demo register's tokens are ``demo-<organisation id>`` (see the file's header)."""
    return {o.id: f"demo-{o.id}" for o in register.organisations}


# The demo's GP systems refuse one message in this many for good (422), as a real one refuses a message it
# cannot file: the delivery becomes a dead letter, and the hospital that sent it receives a negative acknowledgement.
REFUSED_ONE_IN = 20


def demo_behaviour(register: Register) -> Behaviour:
    """How the demo's simulated systems answer: every one takes everything, except that a GP's system refuses one
    message in REFUSED_ONE_IN (chosen by its MessageHeader.id, so a redrive is refused again)."""
    gps = {o.id for o in register.organisations if o.kind == "gp"}

    def answer(receiver_id: str, facts: MessageFacts) -> Reply:
        refused = (
            receiver_id in gps
            and not facts.is_acknowledgement
            and zlib.crc32((facts.message_id or "").encode()) % REFUSED_ONE_IN == 0
        )
        return Reply(status=422, acknowledge=False) if refused else Reply()

    return answer


# The municipality whose own system subscribes itself through the FHIR API when the demo starts (the register's
# seeded subscriptions are the operator's): hospital notifications about its residents, whichever municipality the
# hospital addressed, as the register's subscription policy allows a municipality (its own municipality code).
SELF_SUBSCRIBER = "kommune-aalborg"


def self_subscription(municipality_code: str, notification_url: str | None = None) -> dict[str, object]:
    """The Subscription a municipality's system posts: hospital notifications about its own residents; with a
    `notification_url`, as rest-hook notifications carrying the messages (a heartbeat every 30 s), else channel
    message."""
    channel: dict[str, object] = {"type": MESSAGE_CHANNEL, "payload": PAYLOAD}
    if notification_url is not None:
        channel = {
            "type": REST_HOOK_CHANNEL,
            "endpoint": notification_url,
            "payload": PAYLOAD,
            "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": FULL_RESOURCE}]},
            "extension": [{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": 30}],
        }
    return {
        "resourceType": "Subscription",
        "meta": {"profile": [BACKPORT_PROFILE]},
        "status": "requested",
        "reason": "hospital stays of our residents, whichever municipality the hospital addressed",
        "criteria": f"{TOPIC_BASE}hospital-notification-message",
        "_criteria": {
            "extension": [{"url": FILTER_CRITERIA, "valueString": f"Bundle?municipality-code={municipality_code}"}]
        },
        "channel": channel,
    }


async def subscribe_itself(
    hub_url: str, register: Register, tokens: Mapping[str, str], notification_url: str | None = None
) -> str:
    """SELF_SUBSCRIBER's system subscribes itself with its own token (``POST /fhir/Subscription``), as a rest-hook
    to `notification_url` when given, unless a subscription of its own is there already (a demo started again on
    its database); the subscription's id."""
    municipality = register.by_id(SELF_SUBSCRIBER)
    assert municipality is not None and municipality.municipality_code, f"{SELF_SUBSCRIBER} is in the demo register"
    headers = {"Authorization": f"Bearer {tokens[SELF_SUBSCRIBER]}", "Content-Type": "application/fhir+json"}
    async with httpx.AsyncClient(base_url=hub_url, headers=headers, timeout=30) as client:
        found = (await client.get("/fhir/Subscription")).raise_for_status().json()
        for entry in found.get("entry", []):
            return str(entry["resource"]["id"])
        asked = self_subscription(municipality.municipality_code, notification_url)
        created = await client.post("/fhir/Subscription", json=asked)
        if created.status_code != 201:
            raise RuntimeError(f"{SELF_SUBSCRIBER} could not subscribe itself: {created.status_code} {created.text}")
        return str(created.json()["id"])


def notifications_line(receiver_id: str, notifications: list[dict[str, Any]]) -> str | None:
    """What a rest-hook subscriber's endpoint was sent so far, in one line (None: nothing yet)."""
    kinds: dict[str, int] = {}
    numbers: list[int] = []
    for bundle in notifications:
        for parameter in bundle["entry"][0]["resource"]["parameter"]:
            if parameter["name"] == "type":
                kinds[parameter["valueCode"]] = kinds.get(parameter["valueCode"], 0) + 1
            elif parameter["name"] == "notification-event":
                numbers += [int(p["valueString"]) for p in parameter["part"] if p["name"] == "event-number"]
    if not kinds:
        return None
    events = kinds.get("event-notification", 0)
    span = f" (events {min(numbers)}-{max(numbers)})" if numbers else ""
    return (
        f"{receiver_id}'s rest-hook endpoint: {kinds.get('handshake', 0)} handshake, {events} event notifications"
        f"{span}, {kinds.get('heartbeat', 0)} heartbeats"
    )


async def report_notifications(receivers: SimulatedReceivers, receiver_id: str, *, interval: float = 60.0) -> None:
    """Print the subscriber's notifications line at its first event notification, then every `interval` s."""
    said = ""
    while True:
        line = notifications_line(receiver_id, receivers.notifications.get(receiver_id, []))
        if line and line != said and "0 event notifications" not in line:
            print(line, flush=True)
            said = line
            await asyncio.sleep(interval)
        else:
            await asyncio.sleep(1.0)


def console_lines(hub_url: str, environment: Mapping[str, str]) -> list[str]:
    """The banner's first lines: the operator console's address, and how to get in. The demo configures no operator
    credentials, so the console is open (as the API is), unless the environment the demo was started in sets some."""
    credentials = [name for name in _OPERATOR_CREDENTIALS if environment.get(name)]
    how = (
        f"sign in with an operator token; the hub's operator credentials come from {', '.join(credentials)}"
        if credentials
        else "no sign-in needed: the demo sets no operator token"
    )
    return [f"Console: {hub_url}/console   ({how})"]


_OPERATOR_CREDENTIALS = ("HUB_OPERATOR_TOKEN", "HUB_OPERATOR_TOKENS_FILE", "HUB_OIDC_ISSUER")


def _banner(
    hub_url: str,
    register: Register,
    *,
    mllp_port: int,
    file_drop: Path,
    subscription: str,
    environment: Mapping[str, str] | None = None,
) -> str:
    hospital = next(o for o in register.organisations if o.kind == "hospital")
    municipality = next(o for o in register.organisations if o.kind == "municipality")
    facility, department = hl7_codes(hospital)
    # as real feeds send it: the hospital's local code in MSH-4, the municipality's kommunekode in PID-11.9
    adt = (
        f"MSH|^~\\\\&|EPJ|{facility}|SEKTORHUB|SEKTORHUB|20261127103104||ADT^A01|DEMO-1|P|2.5\\r"
        f"PID|1||0703594417^^^CPR||Jensen^Ida||||||^^^^^DNK^H^^{municipality.municipality_code or ''}\\r"
        f"PV1|1|I|{department}^^^{facility}||||||||||||||||V-1" + "|" * 25 + "202611270912\\r"
    )
    mailbox = next((o for o in register.organisations if o.endpoint.kind == "mailbox"), None)
    lines = [
        "",
        *console_lines(hub_url, os.environ if environment is None else environment),
        "",
        "Sektor-hub demo is running. Simulated hospitals are sending messages; municipalities and GPs answer.",
        "",
        f"  Messages         curl -s '{hub_url}/api/messages?limit=5' | python3 -m json.tool",
        f"  Acknowledged     curl -s '{hub_url}/api/messages?status=acknowledged&limit=3'",
        f"  One message      curl -s '{hub_url}/api/messages/<tracking_id>'   (its whole timeline)",
        f"  Register         curl -s '{hub_url}/api/receivers'",
        f"  Dead letters     curl -s '{hub_url}/api/dead-letters?limit=3'   (the GPs' systems refuse one message in "
        f"{REFUSED_ONE_IN} for good)",
        f"  API docs         {hub_url}/docs",
        f"  Health           curl -s {hub_url}/readyz",
        "",
        "  Send a message yourself (this one is malformed: watch the rejection and the fatal-error answer):",
        f"    curl -s -X POST '{hub_url}/fhir/$process-message' -H 'Authorization: Bearer demo-{hospital.id}' \\",
        '         -H \'Content-Type: application/fhir+json\' -d \'{"resourceType":"Bundle","type":"message"}\'',
    ]
    own = f"-H 'Authorization: Bearer demo-{hospital.id}'"
    subscriber = f"-H 'Authorization: Bearer demo-{SELF_SUBSCRIBER}'"
    lines += [
        "",
        f"  As the hospital {hospital.id}, with its own token (only what it sent or received; 404 for the rest):",
        f"    curl -s '{hub_url}/api/messages?limit=5' {own}",
        f"    curl -s '{hub_url}/api/figures' {own}   (by status and event; p50/p95 to delivery and acknowledgement)",
        "  What the hospital heard of a refusal: its failed message (timeline: sender-notified), then the notice:",
        f"    curl -s '{hub_url}/api/messages?status=failed&limit=1' {own}",
        f"    curl -s '{hub_url}/api/messages?sender=hub&limit=3' {own}   (the hub's acknowledgements to the hospital)",
        "",
        f"  {SELF_SUBSCRIBER}'s system subscribed itself (POST /fhir/Subscription, id {subscription}) to hospital",
        "  notifications about its residents, whichever municipality the hospital addressed; they come to its",
        "  rest-hook endpoint as numbered notifications with the message inside (and a heartbeat every 30 s):",
        f"    curl -s '{hub_url}/fhir/Subscription' {subscriber}",
        f"    curl -s '{hub_url}/fhir/Subscription/{subscription}/$status' {subscriber}",
        f"    curl -s '{hub_url}/fhir/Subscription/{subscription}/$events?eventsSinceNumber=1' {subscriber}",
        f"    curl -s '{hub_url}/fhir/SubscriptionTopic' {subscriber}",
        f"    curl -s '{hub_url}/api/messages?receiver={SELF_SUBSCRIBER}&limit=5' {subscriber}"
        "   (timeline: routed, use subscription)",
        "",
        "  Hospitals also send HL7 v2 ADT over MLLP, and batch files. Try both:",
        f"    printf '\\x0b{adt}\\x1c\\r' | nc -q1 127.0.0.1 {mllp_port}",
        f"    cp some-bundle.json {file_drop}/{hospital.id}/incoming/   (then see done/ or error/)",
    ]
    if mailbox is not None:
        lines.append(f"  A mailbox        curl -s {hub_url}/mailbox -H 'Authorization: Bearer demo-{mailbox.id}'")
    lines += ["", "Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


class HubProcess:
    """The hub as a child process: ``python -m hub serve`` with `environment` (its HUB_* settings)."""

    def __init__(self, environment: Mapping[str, str], *, url: str, stop_seconds: float) -> None:
        self._environment = dict(environment)
        self.url = url
        self._stop_seconds = stop_seconds  # how long a graceful stop may take before SIGKILL
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub",
            "serve",
            env=self._environment,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
            # its own session: a Ctrl-C in the terminal reaches the demo, which stops the simulators first
            start_new_session=True,
        )

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    async def wait(self) -> int:
        assert self._process is not None
        return await self._process.wait()

    async def wait_ready(self, *, timeout: float = 60.0) -> None:
        """Until /readyz answers 200; raises RuntimeError when the hub exits first or takes longer than `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient() as client:
            while loop.time() < deadline:
                if self.returncode is not None:
                    raise RuntimeError(f"the hub exited with code {self.returncode} before it was ready")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the hub at {self.url} did not become ready within {timeout:.0f} s")

    async def stop(self) -> int | None:
        """SIGTERM, and SIGKILL when the hub has not stopped within its time; returns its exit code."""
        process = self._process
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), self._stop_seconds)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        return await process.wait()


def hub_environment(base: Mapping[str, str], **settings: str) -> dict[str, str]:
    """The environment of the hub's process: `base` with the demo's HUB_* `settings` (and the broker's address)
    in place of any the user set, and this hub's code first on the path, so that the child runs the same hub."""
    env = {k: v for k, v in base.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "HUB_KAFKA_BOOTSTRAP_SERVERS")}
    source_root = str(Path(hub.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (source_root, env.get("PYTHONPATH"))))
    env.update(settings)
    return env


async def _ready_or_stopped(hub_process: HubProcess, stop: asyncio.Event) -> bool:
    """Wait until the hub is ready (True) or the demo is told to stop first (False)."""
    ready = asyncio.create_task(hub_process.wait_ready())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not ready.done():
        ready.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ready
        return False
    ready.result()  # raises when the hub did not come up
    return True


async def demo(*, rate: float, stop: asyncio.Event, workdir: Path = Path("var/demo")) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "hub.sqlite3"
    for stale in workdir.glob("hub.sqlite3*"):
        stale.unlink()  # the embedded broker starts empty, so does the demo's tracking store

    receivers_port = free_port()
    os.environ["DEMO_RECEIVERS_URL"] = f"http://127.0.0.1:{receivers_port}"
    os.environ.setdefault("DEMO_RECEIVER_TOKEN", "demo-receiver-credential")
    register = load_register(DEMO_REGISTER)
    tokens = demo_tokens(register)
    base = HubSettings()
    hub_url = f"http://{base.host}:{base.port}"

    file_drop = workdir / "file-drop"
    hospital = next(o for o in register.organisations if o.kind == "hospital")
    (file_drop / hospital.id / "incoming").mkdir(parents=True, exist_ok=True)
    mllp_port = base.mllp_port or free_port()
    async with EmbeddedBroker(log_file=workdir / "broker.log") as broker:
        producer = make_producer(broker.bootstrap_servers, max_request_size=base.max_message_bytes)
        await producer.start()
        hospitals = SimulatedHospitals(
            register=register,
            hub_url=hub_url,
            tokens=tokens,
            mllp=(base.host, mllp_port),
            kafka=(producer, Topics(base.topic_prefix).ingress),
        )
        # the national registers' part: where the simulated patients live and which GP they are listed with
        patients_file = workdir / "patients.yaml"
        patient_register = generate_patient_register(register, hospitals.patients, random.Random(7))
        write_patient_register(patients_file, patient_register)
        # the municipalities' acute care teams send home test results (HomeCareObservation) to the patients' GPs
        municipalities = SimulatedMunicipalities(
            register=register, patients=patient_register, hub_url=hub_url, tokens=tokens
        )
        hub_process = HubProcess(
            hub_environment(
                os.environ,
                KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
                HUB_HOST=base.host,
                HUB_PORT=str(base.port),
                HUB_REGISTER_FILE=str(DEMO_REGISTER),
                HUB_DATABASE_URL=f"sqlite+aiosqlite:///{database.resolve()}",
                HUB_CONSUMER_SESSION_TIMEOUT_MS="6000",
                HUB_MLLP_PORT=str(mllp_port),
                HUB_FILE_DROP_DIR=str(file_drop.resolve()),
                HUB_PATIENT_REGISTER_FILE=str(patients_file.resolve()),
                HUB_LOG_LEVEL="WARNING",
            ),
            url=hub_url,
            stop_seconds=base.shutdown_grace_seconds + 15,
        )
        receivers = SimulatedReceivers(
            register=register, hub_url=hub_url, tokens=tokens, behaviour=demo_behaviour(register)
        )
        await receivers.start(port=receivers_port)
        background: list[asyncio.Task[None]] = []
        try:
            await hub_process.start()
            if await _ready_or_stopped(hub_process, stop):
                subscription = await subscribe_itself(
                    hub_url, register, tokens, receivers.notification_url(SELF_SUBSCRIBER)
                )
                background = [
                    asyncio.create_task(hospitals.run(rate=rate)),
                    asyncio.create_task(municipalities.run(rate=max(rate / 10, 0.2))),
                    asyncio.create_task(receivers.poll_mailboxes_forever(interval=1.0)),
                    asyncio.create_task(report_notifications(receivers, SELF_SUBSCRIBER)),
                ]
                print(
                    _banner(hub_url, register, mllp_port=mllp_port, file_drop=file_drop, subscription=subscription),
                    flush=True,
                )
                stop_waiting = asyncio.create_task(stop.wait())
                hub_exit = asyncio.create_task(hub_process.wait())
                await asyncio.wait({stop_waiting, hub_exit}, return_when=asyncio.FIRST_COMPLETED)
                stop_waiting.cancel()
                hub_exit.cancel()
                if hub_process.returncode is not None:
                    print(f"The hub stopped by itself (exit code {hub_process.returncode}).", flush=True)
        finally:
            print("Stopping the demo ...", flush=True)
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await hospitals.close()
            await municipalities.close()
            await producer.stop()
            await hub_process.stop()
            await receivers.stop()
        said = notifications_line(SELF_SUBSCRIBER, receivers.notifications.get(SELF_SUBSCRIBER, []))
        if said:
            print(said, flush=True)
        channels = ", ".join(f"{n} over {c}" for c, n in hospitals.by_channel.items())
        print(
            f"Stopped. The hub accepted {hospitals.sent} messages from the simulated hospitals ({channels})"
            f" and {municipalities.sent} HomeCareObservations from the simulated municipalities."
        )


def run_demo(*, rate: float) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await demo(rate=rate, stop=stop)

    asyncio.run(main())
    return 0
