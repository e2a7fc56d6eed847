"""HL7 v2 ADT messages as a hospital's EPJ sends them, for the demo's MLLP channel (fictional patients)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Final

from connectors.mllp.framing import Frame, MllpDecoder, encode_frame


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%z")


# MSH-18 (HL7 table 0211) -> the codec the message is sent in
CHARSETS: Final = {"UNICODE UTF-8": "utf-8", "8859/1": "latin-1"}


def adt_message(
    *,
    trigger: str,
    sending_facility: str,
    receiving_facility: str,
    cpr: str,
    visit: str,
    admitted: datetime,
    now: datetime,
    control_id: str,
    discharged: datetime | None = None,
    name: str = "Hansen^Karen",
    department: str = "MED",
    municipality_code: str = "",
    leave_started: datetime | None = None,
    charset: str = "UNICODE UTF-8",
) -> str:
    """An ADT message for an inpatient stay as a hospital's EPJ sends it: MSH, EVN, PID, PV1 (and PV2 on a return
    from leave).

    `sending_facility` (MSH-4) and `receiving_facility` (MSH-6) are codes as the feed writes them: a local facility
    code and the interface engine, or SOR codes. `municipality_code` is the kommunekode of the patient's home
    address (PID-11.9); `department` the point of care in PV1-3. A01 admits, A03 discharges (`discharged`), A21
    starts a leave at `now`, A22 ends the leave that began at `leave_started`.
    """
    pv1 = ["PV1", "1", "I", f"{department}^^^{sending_facility}"] + [""] * 42
    pv1[19] = visit
    pv1[44] = _stamp(admitted)
    if discharged is not None:
        pv1[36] = "01"  # discharged home
        pv1[45] = _stamp(discharged)
    address = f"Hovedgaden 1^^^^^DNK^H^^{municipality_code}" if municipality_code else ""
    segments = [
        f"MSH|^~\\&|DEMO-EPJ|{sending_facility}|SEKTORHUB|{receiving_facility}|{now:%Y%m%d%H%M%S%z}||ADT^{trigger}"
        f"|{control_id}|P|2.5||||||{charset}",
        f"EVN|{trigger}|{_stamp(now)}||||{_stamp(now)}",
        f"PID|1||{cpr}^^^CPR||{name}||||||{address}",
        "|".join(pv1).rstrip("|"),
    ]
    if leave_started is not None:  # PV2-46: when the leave this return ends began
        segments.append("PV2" + "|" * 46 + _stamp(leave_started))
    return "\r".join(segments) + "\r"


async def send_over_mllp(
    host: str, port: int, message: str, *, timeout: float = 30.0, charset: str = "UNICODE UTF-8"
) -> str:
    """Send one message over MLLP, in the character set MSH-18 names; the MSA-1 code of the answer (AA, AE, AR)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(encode_frame(message.encode(CHARSETS.get(charset, "utf-8"))))
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
