"""``hub demo``: the embedded broker, the hub, simulated hospitals, municipalities and GPs, in one process.

Everything runs until Ctrl-C (or SIGTERM); the broker is a child process that is stopped on the way out
and is told by the kernel to die with this process, so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
from pathlib import Path

import httpx

from hub.app import create_app
from hub.broker.clients import make_producer
from hub.broker.embedded import EmbeddedBroker, free_port
from hub.broker.topics import Topics
from hub.route.patients import generate_patient_register, write_patient_register
from hub.route.register import Register, load_register
from hub.serving import make_server
from hub.settings import SCHEMAS_DIR, HubSettings
from hub.simulate.hospital import SimulatedHospitals
from hub.simulate.receivers import SimulatedReceivers

DEMO_REGISTER = SCHEMAS_DIR / "demo-register.yaml"


def demo_tokens(register: Register) -> dict[str, str]:
    """The demo register's tokens are ``demo-<organisation id>`` (see the file's header)."""
    return {o.id: f"demo-{o.id}" for o in register.organisations}


def _banner(hub_url: str, register: Register, *, mllp_port: int, file_drop: Path) -> str:
    hospital = next(o for o in register.organisations if o.kind == "hospital")
    municipality = next(o for o in register.organisations if o.kind == "municipality")
    adt = (
        f"MSH|^~\\\\&|EPJ|{hospital.sor}|SEKTORHUB|{municipality.sor}|20261127103104||ADT^A01|DEMO-1|P|2.5\\r"
        "PID|1||0703594417^^^CPR||Jensen^Ida\\rPV1|1|I|||||||||||||||||V-1" + "|" * 25 + "202611270912\\r"
    )
    mailbox = next((o for o in register.organisations if o.endpoint.kind == "mailbox"), None)
    lines = [
        "",
        "Sektor-hub demo is running. Simulated hospitals are sending messages; municipalities and GPs answer.",
        "",
        f"  Messages         curl -s '{hub_url}/api/messages?limit=5' | python3 -m json.tool",
        f"  Acknowledged     curl -s '{hub_url}/api/messages?status=acknowledged&limit=3'",
        f"  One message      curl -s '{hub_url}/api/messages/<tracking_id>'   (its whole timeline)",
        f"  Register         curl -s '{hub_url}/api/receivers'",
        f"  API docs         {hub_url}/docs",
        f"  Health           curl -s {hub_url}/readyz",
        "",
        "  Send a message yourself (this one is malformed: watch the rejection and the fatal-error answer):",
        f"    curl -s -X POST '{hub_url}/fhir/$process-message' -H 'Authorization: Bearer demo-{hospital.id}' \\",
        '         -H \'Content-Type: application/fhir+json\' -d \'{"resourceType":"Bundle","type":"message"}\'',
    ]
    lines += [
        "",
        "  Hospitals also send HL7 v2 ADT over MLLP, and batch files. Try both:",
        f"    printf '\\x0b{adt}\\x1c\\r' | nc -q1 127.0.0.1 {mllp_port}",
        f"    cp some-bundle.json {file_drop}/{hospital.id}/incoming/   (then see done/ or error/)",
    ]
    if mailbox is not None:
        lines.append(f"  A mailbox        curl -s {hub_url}/mailbox -H 'Authorization: Bearer demo-{mailbox.id}'")
    lines += ["", "Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


async def _wait_ready(url: str, *, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient() as client:
        while loop.time() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the hub at {url} did not become ready within {timeout:.0f} s")


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
        write_patient_register(patients_file, generate_patient_register(register, hospitals.patients, random.Random(7)))
        settings = base.model_copy(
            update={
                "kafka_bootstrap_servers": broker.bootstrap_servers,
                "register_file": DEMO_REGISTER,
                "database_url": f"sqlite+aiosqlite:///{database}",
                "consumer_session_timeout_ms": 6000,
                "mllp_port": mllp_port,
                "file_drop_dir": file_drop,
                "patient_register_file": patients_file,
            }
        )
        receivers = SimulatedReceivers(register=register, hub_url=hub_url, tokens=tokens)
        await receivers.start(port=receivers_port)
        server = make_server(
            create_app(settings), host=settings.host, port=settings.port, grace_seconds=settings.shutdown_grace_seconds
        )
        serving = asyncio.create_task(server.serve())
        background: list[asyncio.Task[None]] = []
        try:
            await _wait_ready(hub_url)
            background = [
                asyncio.create_task(hospitals.run(rate=rate)),
                asyncio.create_task(receivers.poll_mailboxes_forever(interval=1.0)),
            ]
            print(_banner(hub_url, register, mllp_port=settings.mllp_port or 0, file_drop=file_drop), flush=True)
            stop_waiting = asyncio.create_task(stop.wait())
            await asyncio.wait({stop_waiting, serving}, return_when=asyncio.FIRST_COMPLETED)
            stop_waiting.cancel()
        finally:
            print("Stopping the demo ...", flush=True)
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await hospitals.close()
            await producer.stop()
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving
            await receivers.stop()
        channels = ", ".join(f"{n} over {c}" for c, n in hospitals.by_channel.items())
        print(f"Stopped. The hub accepted {hospitals.sent} messages from the simulated hospitals ({channels}).")


def run_demo(*, rate: float) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await demo(rate=rate, stop=stop)

    asyncio.run(main())
    return 0
