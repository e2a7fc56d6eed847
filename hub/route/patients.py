"""The patient register: for each CPR number, the municipality of residence and the GP practice the patient
is listed at (a register organisation id). Subscriptions filter on both.

Loaded once from a file (``HUB_PATIENT_REGISTER_FILE``): YAML or JSON (a list of entries, or an object with
a ``patients`` list) or CSV (header ``cpr,municipality_code,gp``). Lookups are pure dictionary reads.
In production this would be fed from the CPR register; the demo generates one (:func:`generate_patient_register`).
"""

from __future__ import annotations

import csv
import io
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from hub.domain.identifiers import cpr_problem
from hub.route.register import OrganisationKind, Register

_MUNICIPALITY_CODE = re.compile(r"^\d{1,4}$")
FIELDS = ("cpr", "municipality_code", "gp")


def normalise_municipality_code(value: str) -> str | None:
    """The kommunekode as 3 digits ("0101", "101" -> "101"), or None when it is not 1-4 digits.

    Registers write it with or without the leading zero; subscriptions and patients must compare equal.
    """
    value = value.strip()
    if not _MUNICIPALITY_CODE.match(value):
        return None
    return f"{int(value):03d}"


class PatientRegisterError(ValueError):
    """The patient register file cannot be used; the message names the file and the entry (never the CPR)."""


@dataclass(frozen=True, slots=True)
class PatientEntry:
    cpr: str
    municipality_code: str | None = (
        None  # kommunekode of residence, 3 digits ("101" Copenhagen; "0101" is read as "101")
    )
    gp: str | None = None  # register id of the GP practice the patient is listed at

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


class PatientRegister:
    """CPR -> municipality of residence and GP practice; a patient not in the register has neither."""

    def __init__(self, entries: Iterable[PatientEntry] = ()) -> None:
        self._by_cpr: dict[str, PatientEntry] = {}
        for entry in entries:
            self._by_cpr[entry.cpr] = entry

    @classmethod
    def empty(cls) -> PatientRegister:
        return cls()

    def __len__(self) -> int:
        return len(self._by_cpr)

    def __iter__(self) -> Iterator[PatientEntry]:
        return iter(self._by_cpr.values())

    def get(self, cpr: str | None) -> PatientEntry | None:
        return self._by_cpr.get(cpr) if cpr else None

    def municipality_of(self, cpr: str | None) -> str | None:
        entry = self.get(cpr)
        return entry.municipality_code if entry else None

    def gp_of(self, cpr: str | None) -> str | None:
        entry = self.get(cpr)
        return entry.gp if entry else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return value.strip() or None


def parse_patient_entries(rows: Iterable[Any], *, source: str, register: Register | None = None) -> list[PatientEntry]:
    """Entries from rows of {cpr, municipality_code, gp}; with a register, every gp must be a GP in it.

    Errors name the source and the row number, never the CPR number itself (logs must not carry CPRs).
    """
    entries: list[PatientEntry] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        where = f"{source}: patient {number}"
        if not isinstance(row, dict):
            raise PatientRegisterError(f"{where}: expected an object with cpr, municipality_code, gp")
        unknown = set(row) - set(FIELDS)
        if unknown:
            raise PatientRegisterError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        try:
            cpr, municipality, gp = (_text(row.get(name)) for name in FIELDS)
        except ValueError as exc:
            raise PatientRegisterError(f"{where}: {exc}") from exc
        if cpr is None:
            raise PatientRegisterError(f"{where}: cpr is missing")
        # CSV and YAML may lose the leading zero of a CPR born on days 01-09
        cpr = cpr.zfill(10) if cpr.isdigit() and len(cpr) == 9 else cpr
        problem = cpr_problem(cpr)
        if problem:
            raise PatientRegisterError(f"{where}: cpr: {problem}")
        if cpr in seen:
            raise PatientRegisterError(f"{where}: the same CPR number is listed twice")
        seen.add(cpr)
        if municipality is not None:
            code = normalise_municipality_code(municipality)
            if code is None:
                raise PatientRegisterError(
                    f"{where}: municipality_code {municipality!r} is not a kommunekode (3 digits)"
                )
            municipality = code
        if gp is not None and register is not None:
            practice = register.by_id(gp)
            if practice is None:
                raise PatientRegisterError(f"{where}: gp {gp!r} is not in the endpoint register")
            if practice.kind is not OrganisationKind.GP:
                raise PatientRegisterError(f"{where}: gp {gp!r} is a {practice.kind}, not a GP practice")
        entries.append(PatientEntry(cpr=cpr, municipality_code=municipality, gp=gp))
    return entries


def _rows(path: Path, text: str) -> list[Any]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        return [{k: (v or None) for k, v in row.items() if k is not None} for row in reader]
    data = orjson.loads(text) if suffix == ".json" else yaml.safe_load(text)
    if isinstance(data, dict):
        data = data.get("patients")
    if data is None:
        return []
    if not isinstance(data, list):
        raise PatientRegisterError(f"{path}: expected a list of patients (or an object with a 'patients' list)")
    return data


def load_patient_register(path: Path, *, register: Register | None = None) -> PatientRegister:
    """Read a YAML (.yaml/.yml), JSON (.json) or CSV (.csv) patient register."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PatientRegisterError(f"cannot read patient register {path}: {exc.strerror}") from exc
    try:
        rows = _rows(path, text)
    except (yaml.YAMLError, orjson.JSONDecodeError, csv.Error) as exc:
        raise PatientRegisterError(f"patient register {path} cannot be parsed: {exc}") from exc
    return PatientRegister(parse_patient_entries(rows, source=str(path), register=register))


def write_patient_register(path: Path, entries: Sequence[PatientEntry]) -> None:
    """Write entries in the format the suffix names (.csv, .json, else YAML); the inverse of loading."""
    rows = [entry.as_dict() for entry in entries]
    suffix = path.suffix.lower()
    if suffix == ".csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path.write_text(out.getvalue(), encoding="utf-8")
    elif suffix == ".json":
        path.write_bytes(orjson.dumps({"patients": rows}, option=orjson.OPT_INDENT_2))
    else:
        path.write_text(yaml.safe_dump({"patients": rows}, sort_keys=False), encoding="utf-8")


def generate_patient_register(register: Register, cprs: Iterable[str], rng: random.Random) -> list[PatientEntry]:
    """A demo patient register: each CPR gets a municipality (of the register's municipalities that have a
    municipality code) and a GP practice (of the register's GPs), chosen with `rng` (deterministic per seed).
    """
    codes = sorted(
        {
            code
            for o in register.organisations
            if o.municipality_code and (code := normalise_municipality_code(o.municipality_code))
        }
    )
    practices = [o.id for o in register.organisations if o.kind is OrganisationKind.GP]
    return [
        PatientEntry(
            cpr=cpr,
            municipality_code=rng.choice(codes) if codes else None,
            gp=rng.choice(practices) if practices else None,
        )
        for cpr in cprs
    ]
