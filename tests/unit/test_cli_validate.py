"""``hub validate FILE...``: one JSON line per file, exit 0 only when every file is valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]


def run_validate(*files: Path | str) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run(
        [sys.executable, "-m", "hub", "validate", *map(str, files)], cwd=ROOT, capture_output=True, timeout=120
    )
    return done.returncode, [orjson.loads(line) for line in done.stdout.splitlines()]


def test_valid_examples_exit_zero(example_paths: list[Path]) -> None:
    code, lines = run_validate(*example_paths)
    assert code == 0, [line for line in lines if not line["valid"]]
    assert [line["path"] for line in lines] == [str(p) for p in example_paths]
    assert {line["event"] for line in lines} == {
        "hospital-notification-message",
        "care-communication-message",
        "acknowledgement-message",
        "empty-message",
    }
    assert all(
        line["issues"] == [] or all(i["severity"] not in ("error", "fatal") for i in line["issues"]) for line in lines
    )


def test_one_bad_file_makes_exit_one_and_names_the_fault(example_paths: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    original = orjson.loads(example_paths[0].read_bytes())
    original["type"] = "document"
    raw = orjson.dumps(original, option=orjson.OPT_INDENT_2)
    bad.write_bytes(raw)
    missing = tmp_path / "missing.json"
    code, lines = run_validate(example_paths[0], bad, missing)
    assert code == 1
    assert [line["valid"] for line in lines] == [True, False, False]
    issues = lines[1]["issues"]
    assert isinstance(issues, list)
    [fault] = [i for i in issues if i["expression"] == "Bundle.type" and i["severity"] == "error"]
    assert set(fault) == {"severity", "code", "expression", "diagnostics", "line", "column"}
    text = raw.decode()
    at = text.index('"type"')  # where the fault is in the file, counted here
    assert (fault["line"], fault["column"]) == (text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at))
    assert "cannot read" in str(lines[2]["issues"])
