"""``python -m bench --quick`` as a smoke test: it runs to the end and reports every headline figure as a number.

It asserts no threshold: figures on a shared 2-core machine are noise for a test. It runs the bench in its own
process, as a user would, against its own embedded broker and hub process.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = (
    "end_to_end_msgs_per_s",
    "raw_kafka_msgs_per_s",
    "hub_to_raw_ratio",
    "p99_ms_at_300",
    "validate_us_per_msg",
    "fhir_resources_parse_us_per_msg",
)


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_quick_bench_reports_every_figure(tmp_path: Path) -> None:
    result_file = tmp_path / "bench.json"
    code = (
        "from bench.cli import main; "
        f"raise SystemExit(main(['--quick', '--json', {str(result_file)!r}, '--out', {str(tmp_path / 'out')!r}]))"
    )
    finished = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=540, check=False
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]

    figures = orjson.loads(result_file.read_bytes())
    for key in KEYS:
        value = figures.get(key)
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{key}: {value!r}"
        assert math.isfinite(value), f"{key}: {value!r}"
    assert (tmp_path / "out" / "results.json").exists()
