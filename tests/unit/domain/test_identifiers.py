from __future__ import annotations

import pytest

from hub.domain.identifiers import cpr_problem, gln_check_digit, gln_problem, mask_cpr, sor_problem


@pytest.mark.parametrize("cpr", ["2509479989", "0101000000", "2902001234", "3112991234"])
def test_well_formed_cpr(cpr: str) -> None:
    assert cpr_problem(cpr) is None


@pytest.mark.parametrize(
    ("cpr", "reason"),
    [
        ("250947998", "10 digits"),
        ("25094799891", "10 digits"),
        ("250947-998", "10 digits"),
        ("3213991234", "month 13"),
        ("3201991234", "day 32"),
        ("3104991234", "day 31 does not exist in month 04"),
        ("0000001234", "month 00"),
    ],
)
def test_malformed_cpr_names_the_reason(cpr: str, reason: str) -> None:
    problem = cpr_problem(cpr)
    assert problem is not None and reason in problem


def test_gln_check_digit_matches_gs1() -> None:
    assert gln_check_digit("579000020935") == 4
    assert gln_problem("5790000209354") is None
    assert gln_problem("5790001234567") == "the GLN has check digit 7, expected 0"  # never quotes the value
    assert gln_problem("57900012345") == "a GLN is 13 digits"


def test_sor_codes() -> None:
    assert sor_problem("265161000016000") is None
    assert sor_problem("") is not None
    assert sor_problem("26516100001600A") is not None


def test_mask_keeps_only_the_birth_date() -> None:
    assert mask_cpr("2509479989") == "250947-xxxx"
    assert mask_cpr(None) is None
