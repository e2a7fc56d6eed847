"""Full validation vs fhir.resources' R4B parse of the same messages, in one run.

.venv/bin/python -m hub.validate.bench FILE...
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import orjson

from hub.validate.validator import Validator


def _per_message(fn: Any, messages: list[bytes], rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        for raw in messages:
            fn(raw)
    return (time.perf_counter() - started) / (rounds * len(messages))


def run(messages: list[bytes], rounds: int = 50) -> dict[str, Any]:
    """Seconds per message: full validation, and orjson + fhir.resources R4B Bundle.model_validate."""
    from fhir.resources.R4B.bundle import Bundle

    validator = Validator()
    for raw in messages:  # warm up both
        validator.validate(raw)
        Bundle.model_validate(orjson.loads(raw))
    full = _per_message(validator.validate, messages, rounds)
    parse = _per_message(lambda raw: Bundle.model_validate(orjson.loads(raw)), messages, rounds)
    return {
        "messages": len(messages),
        "rounds": rounds,
        "validate_ms": round(full * 1000, 3),
        "r4b_parse_ms": round(parse * 1000, 3),
        "ratio": round(full / parse, 2),
        "valid": sum(validator.validate(raw).valid for raw in messages),
    }


if __name__ == "__main__":
    print(orjson.dumps(run([Path(p).read_bytes() for p in sys.argv[1:]])).decode())
