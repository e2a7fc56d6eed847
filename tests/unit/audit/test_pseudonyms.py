"""Patients as pseudonyms: the same CPR number always the same pseudonym under one key, another under another key,
and no CPR number left in what a caller searched for."""

from __future__ import annotations

import hashlib
import hmac

from hub.audit.pseudonyms import PREFIX, pseudonym, pseudonymised_query, pseudonymised_text, pseudonyms

KEY = b"a key of the audit, for the tests"
CPR = "0101901234"


def test_a_pseudonym_is_the_hmac_sha256_of_the_cpr_number_with_or_without_its_hyphen() -> None:
    expected = hmac.new(KEY, CPR.encode(), hashlib.sha256).hexdigest()
    assert pseudonym(KEY, CPR) == expected
    assert pseudonym(KEY, "010190-1234") == expected
    assert len(expected) == 64 and CPR not in expected


def test_another_key_another_pseudonym_another_patient_another_pseudonym() -> None:
    assert pseudonym(b"another key of the audit", CPR) != pseudonym(KEY, CPR)
    assert pseudonym(KEY, "0101901235") != pseudonym(KEY, CPR)


def test_each_patient_once_in_the_order_met_and_no_patient_left_out() -> None:
    other = "0202802345"
    assert pseudonyms(KEY, [CPR, None, other, "010190-1234", "", CPR]) == [pseudonym(KEY, CPR), pseudonym(KEY, other)]


def test_cpr_numbers_in_text_are_pseudonymised_and_uuids_kept() -> None:
    tracking_id = "3f2b1c0d-1234-4567-8901-234567890123"
    text = pseudonymised_text(KEY, f"/api/messages/{tracking_id} for 010190-1234 and 0202802345")
    assert tracking_id in text
    assert f"{PREFIX}{pseudonym(KEY, CPR)}" in text and f"{PREFIX}{pseudonym(KEY, '0202802345')}" in text
    assert not any(cpr in text for cpr in ("010190-1234", CPR, "0202802345"))


def test_a_query_keeps_no_cpr_number_a_patient_parameter_is_pseudonymised_whatever_it_holds() -> None:
    query = pseudonymised_query(
        KEY, {"patient": CPR, "cpr": "12345", "message_id": f"m-{CPR}", "status": "acknowledged", "limit": "100"}
    )
    assert query["patient"] == PREFIX + pseudonym(KEY, CPR)
    assert query["cpr"] == PREFIX + pseudonym(KEY, "12345")  # not a CPR number, but where one is given: never kept
    assert query["message_id"] == f"m-{PREFIX}{pseudonym(KEY, CPR)}"
    assert (query["status"], query["limit"]) == ("acknowledged", "100")
    assert not any(CPR in value for value in query.values())
    assert pseudonymised_query(KEY, None) == {}
