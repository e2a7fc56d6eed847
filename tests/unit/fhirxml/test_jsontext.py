from __future__ import annotations

import pytest

from hub.fhirxml import jsontext
from hub.fhirxml.jsontext import Number


def test_numbers_keep_their_digits() -> None:
    document = jsontext.loads(b'\xef\xbb\xbf{"a": 1.50, "b": [0, -2, 1e3, 1.0E-7], "c": true, "d": null}')
    assert document == {
        "a": Number("1.50"),
        "b": [Number("0"), Number("-2"), Number("1e3"), Number("1.0E-7")],
        "c": True,
        "d": None,
    }
    assert jsontext.dumps(document) == b'{"a":1.50,"b":[0,-2,1e3,1.0E-7],"c":true,"d":null}'
    assert Number("1.5") != Number("1.50") and Number("1") != 1


def test_nan_is_no_json_number() -> None:
    with pytest.raises(ValueError, match="NaN"):
        jsontext.loads(b'{"a": NaN}')
