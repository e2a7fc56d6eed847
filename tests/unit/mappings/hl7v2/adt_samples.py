"""Realistic HL7 v2.5 ADT messages for the mapping tests. Every person in them is fictional.

CPR numbers have real birth dates and made-up serial digits; the SOR codes are those of MedCom's own
examples (a heart unit at Herlev and Gentofte Hospital, a care centre in Herlev Municipality).
"""

from __future__ import annotations

from typing import Final

HOSPITAL_SOR: Final = "265161000016000"
OTHER_HOSPITAL_SOR: Final = "654991000016003"
MUNICIPALITY_SOR: Final = "953741000016009"
CPR: Final = "0703594417"  # 7 March 1959
OTHER_CPR: Final = "2811804562"  # 28 November 1980
VISIT: Final = "V2024-0042117"


def _fields(values: dict[int, str], name: str, length: int) -> str:
    fields = [name] + [""] * length
    for number, value in values.items():
        fields[number] = value
    while fields and fields[-1] == "":
        fields.pop()
    return "|".join(fields)


def adt(
    trigger: str,
    *,
    patient_class: str = "I",
    control_id: str = "SP-000184311",
    sender: str = HOSPITAL_SOR,
    receiver: str = MUNICIPALITY_SOR,
    message_type: str = "ADT",
    pid3: str | None = None,
    cpr: str = CPR,
    name: str = "Sørensen^Anne^Marie",
    admitted: str = "202405061342",
    discharged: str = "",
    disposition: str = "",
    death_indicator: str = "",
    death_time: str = "",
    facility: str = HOSPITAL_SOR,
    prior_facility: str = "",
    visit: str = VISIT,
    event_time: str = "202405081030",
    sent: str = "20240508103104+0200",
    charset: str = "UNICODE UTF-8",
    separator: str = "\r",
    with_pv1: bool = True,
    address: str = "Hovedgaden 12^^Herlev^^2730^DNK",
    leave_started: str = "202405071400",
    location: str | None = None,
    county: str = "",
) -> str:
    """One ADT^<trigger> message: MSH, EVN, PID, PV1 (and PV2 with an expected return for a leave)."""
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            "SP^Sundhedsplatformen",
            sender,
            "SEKTORHUB",
            receiver,
            sent,
            "",
            f"{message_type}^{trigger}^{message_type}_A01",
            control_id,
            "P",
            "2.5",
            "",
            "",
            "AL",
            "NE",
            "DNK",
            charset,
        ]
    )
    evn = _fields({1: trigger, 2: sent[:14], 6: event_time}, "EVN", 7)
    pid = _fields(
        {
            1: "1",
            3: pid3 if pid3 is not None else f"{cpr}^^^CPR^NNDNK~4711093^^^SP^MR",
            5: name,
            7: "19590307",
            8: "F",
            11: address,
            12: county,
            18: "A-99120",
            29: death_time,
            30: death_indicator,
        },
        "PID",
        30,
    )
    pv1 = _fields(
        {
            1: "1",
            2: patient_class,
            3: location if location is not None else f"HJA^HJ201^2^{facility}" if facility else "",
            6: f"AKM^AK03^1^{prior_facility}" if prior_facility else "",
            10: "MED",
            19: visit,
            36: disposition,
            44: admitted,
            45: discharged,
        },
        "PV1",
        45,
    )
    segments = [msh, evn, pid]
    if with_pv1:
        segments.append(pv1)
    if trigger == "A21":
        segments.append(_fields({47: "202405101800"}, "PV2", 47))
    if trigger == "A22" and leave_started:  # PV2-46: when the leave this return ends began
        segments.append(_fields({46: leave_started}, "PV2", 47))
    return separator.join(segments) + separator
