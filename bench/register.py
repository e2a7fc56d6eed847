"""The bench's endpoint register: the 98 municipalities, about a hundred GP practices and the hospitals.

Written as a YAML file in the format of ``schemas/demo-register.yaml`` (read by
:func:`hub.route.register.load_register`). SOR codes and GLNs are invented (the GLNs carry valid GS1 check
digits); every organisation gets a fresh random bearer token, of which the file keeps only the SHA-256.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
import yaml

from bench.denmark import HOSPITALS, MUNICIPALITIES, REGIONS, Municipality
from hub.domain.identifiers import gln_check_digit
from hub.domain.sektorhub import DISCHARGE_LETTER_EVENT, MEDICATION_UPDATE_EVENT, REFERRAL_EVENT
from hub.route.register import hash_token

HOSPITAL_ACCEPTS: Final = ("care-communication-message", "acknowledgement-message", REFERRAL_EVENT)
MUNICIPALITY_ACCEPTS: Final = (
    "hospital-notification-message",
    "care-communication-message",
    "acknowledgement-message",
    DISCHARGE_LETTER_EVENT,
    MEDICATION_UPDATE_EVENT,
)
GP_ACCEPTS: Final = (
    "care-communication-message",
    "acknowledgement-message",
    DISCHARGE_LETTER_EVENT,
    MEDICATION_UPDATE_EVENT,
    REFERRAL_EVENT,
)
GP_PRACTICES: Final = 100

_GENITIVES: Final = {"Københavns": "København", "Nordfyns": "Nordfyn", "Bornholms": "Bornholm"}
_SLUG: Final = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "é": "e", ",": "", ".": ""})


@dataclass(frozen=True, slots=True)
class BenchOrganisation:
    id: str
    name: str
    kind: str  # hospital | municipality | gp
    sor: str
    gln: str
    region: str
    token: str
    municipality_code: str | None = None
    accepts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BenchRegister:
    hub_sor: str
    hub_gln: str
    organisations: tuple[BenchOrganisation, ...]

    def of_kind(self, kind: str) -> list[BenchOrganisation]:
        return [o for o in self.organisations if o.kind == kind]

    def tokens(self) -> dict[str, str]:
        return {o.id: o.token for o in self.organisations}


def slug(name: str) -> str:
    words = name.lower().translate(_SLUG).replace("/", " ").split()
    return "-".join(w for w in words if w not in ("kommune", "regionskommune"))


class _Numbers:
    """Invented SOR codes (15 digits, SOR-like) and GLNs (579..., GS1 check digit), never the same twice."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def sor(self) -> str:
        while True:
            value = f"{self._rng.randint(10_000, 99_999)}1000016{self._rng.randint(0, 999):03d}"
            if value not in self._used:
                self._used.add(value)
                return value

    def gln(self) -> str:
        while True:
            first_twelve = f"579{self._rng.randint(0, 999_999_999):09d}"
            value = f"{first_twelve}{gln_check_digit(first_twelve)}"
            if value not in self._used:
                self._used.add(value)
                return value


def _gp_counts(municipalities: Sequence[Municipality], total: int) -> list[int]:
    """How many GP practices each municipality gets: proportional to population (largest remainder)."""
    population = sum(m.population_k for m in municipalities)
    shares = [total * m.population_k / population for m in municipalities]
    counts = [int(share) for share in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: shares[i] - counts[i], reverse=True)
    for index in by_remainder[: total - sum(counts)]:
        counts[index] += 1
    return counts


def _town(municipality_name: str) -> str:
    """The place a municipality is named after: "Københavns Kommune" -> "København"."""
    town = municipality_name.removesuffix(" Regionskommune").removesuffix(" Kommune")
    return _GENITIVES.get(town, town)


def build_register(*, seed: int | None = None, gp_practices: int = GP_PRACTICES) -> BenchRegister:
    """Every municipality, the hospitals of the five regions and `gp_practices` GP practices."""
    rng = random.Random(seed)
    numbers = _Numbers(rng)

    def token(organisation_id: str) -> str:
        return f"bench-{organisation_id}-{secrets.token_hex(12)}"

    organisations: list[BenchOrganisation] = []
    for hospital in HOSPITALS:
        oid = f"hospital-{slug(hospital.name)}"
        organisations.append(
            BenchOrganisation(
                id=oid,
                name=hospital.name,
                kind="hospital",
                sor=numbers.sor(),
                gln=numbers.gln(),
                region=hospital.region,
                token=token(oid),
                accepts=HOSPITAL_ACCEPTS,
            )
        )
    for municipality in MUNICIPALITIES:
        oid = f"kommune-{slug(municipality.name)}"
        organisations.append(
            BenchOrganisation(
                id=oid,
                name=municipality.name,
                kind="municipality",
                sor=numbers.sor(),
                gln=numbers.gln(),
                region=municipality.region,
                token=token(oid),
                municipality_code=municipality.code,
                accepts=MUNICIPALITY_ACCEPTS,
            )
        )
    for municipality, count in zip(MUNICIPALITIES, _gp_counts(MUNICIPALITIES, gp_practices), strict=True):
        town = _town(municipality.name)
        for number in range(1, count + 1):
            oid = f"gp-{slug(town)}-{number}"
            organisations.append(
                BenchOrganisation(
                    id=oid,
                    name=f"Lægehuset {town} {number}",
                    kind="gp",
                    sor=numbers.sor(),
                    gln=numbers.gln(),
                    region=municipality.region,
                    token=token(oid),
                    municipality_code=municipality.code,
                    accepts=GP_ACCEPTS,
                )
            )
    assert {o.region for o in organisations if o.kind == "hospital"} == set(REGIONS)
    return BenchRegister(hub_sor=numbers.sor(), hub_gln=numbers.gln(), organisations=tuple(organisations))


def register_document(register: BenchRegister, *, receivers_url: str) -> dict[str, Any]:
    """The register as the hub reads it; every organisation is pushed to at ``<receivers_url>/receivers/<id>``."""
    entries: list[dict[str, Any]] = []
    for o in register.organisations:
        entry: dict[str, Any] = {"id": o.id, "name": o.name, "kind": o.kind, "sor": o.sor, "gln": o.gln}
        if o.municipality_code and o.kind == "municipality":
            entry["municipality_code"] = o.municipality_code
        entry["token_sha256"] = hash_token(o.token)
        entry["endpoint"] = {
            "kind": "http",
            "url": f"{receivers_url.rstrip('/')}/receivers/{o.id}",
            "bearer_token": "bench-push-credential",
        }
        entry["accepts"] = list(o.accepts)
        entries.append(entry)
    return {
        "hub": {"name": "Sektor-hub (bench)", "sor": register.hub_sor, "gln": register.hub_gln},
        "organisations": entries,
    }


def write_register(register: BenchRegister, path: Path, *, receivers_url: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Generated by `python -m bench`: real municipality names and kommunekoder, real hospital names,\n"
        "# invented GP practices, SOR codes and GLNs (valid GS1 check digits). Tokens are in tokens.json.\n"
    )
    body = yaml.safe_dump(register_document(register, receivers_url=receivers_url), sort_keys=False, allow_unicode=True)
    path.write_text(header + body, encoding="utf-8")
    return path


def write_tokens(register: BenchRegister, path: Path) -> Path:
    """The bearer tokens in clear (the receivers need them to acknowledge); bench use only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(register.tokens(), option=orjson.OPT_INDENT_2))
    path.chmod(0o600)
    return path


def read_tokens(path: Path) -> dict[str, str]:
    data = orjson.loads(path.read_bytes())
    return {str(k): str(v) for k, v in data.items()}
