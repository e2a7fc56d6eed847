"""HL7 v2 ADT messages as a hospital's EPJ sends them, for the demo's MLLP channel (fictional patients)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from connectors.mllp.framing import Frame, MllpDecoder, encode_frame


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%z")


def adt_message(
    *,
    trigger: str,
    hospital_sor: str,
    municipality_sor: str,
    cpr: str,
    visit: str,
    admitted: datetime,
    now: datetime,
    control_id: str,
    discharged: datetime | None = None,
    name: str = "Hansen^Karen",
) -> str:
    """ADT^A01 (admission) or ADT^A03 (discharge) for an inpatient stay: MSH, EVN, PID, PV1."""
    pv1 = ["PV1", "1", "I", f"MED^M1^1^{hospital_sor}"] + [""] * 42
    pv1[19] = visit
    pv1[44] = _stamp(admitted)
    if discharged is not None:
        pv1[36] = "01"  # discharged home
        pv1[45] = _stamp(discharged)
    segments = [
        f"MSH|^~\\&|DEMO-EPJ|{hospital_sor}|SEKTORHUB|{municipality_sor}|{now:%Y%m%d%H%M%S%z}||ADT^{trigger}"
        f"|{control_id}|P|2.5||||||UNICODE UTF-8",
        f"EVN|{trigger}|{_stamp(now)}",
        f"PID|1||{cpr}^^^CPR||{name}",
        "|".join(pv1).rstrip("|"),
    ]
    return "\r".join(segments) + "\r"


async def send_over_mllp(host: str, port: int, message: str, *, timeout: float = 30.0) -> str:
    """Send one message over MLLP and return the MSA-1 acknowledgement code of the answer (AA, AE, AR)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(encode_frame(message.encode()))
        await writer.drain()
        decoder = MllpDecoder()
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                raise ConnectionError("the MLLP listener closed the connection without an answer")
            frames = [f for f in decoder.feed(chunk) if isinstance(f, Frame)]
            if frames:
                answer = frames[0].payload.decode(errors="replace")
                break
    finally:
        writer.close()
    for segment in answer.replace("\n", "\r").split("\r"):
        if segment.startswith("MSA|"):
            return segment.split("|")[1]
    raise ValueError("the answer has no MSA segment")
