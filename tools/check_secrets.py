"""Fails when the tree holds a secret that .secrets.baseline does not know (detect-secrets, offline).

The baseline's entries are matched by file and hashed secret, not by line, so editing a file around a known
placeholder (the example database URLs in the README) does not fail the check. Run from the repository root.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# schemas/ and tests/data/ hold MedCom's and HL7's published examples and definitions (base64 attachments look
# like keys to the high-entropy detectors)
EXCLUDED = (
    r"^(\.venv|\.git|var|schemas|tests/data|\.hypothesis|\.mypy_cache|\.ruff_cache|\.pytest_cache)/"
    r"|\.egg-info/|^\.secrets\.baseline$"
)


def _found(scan: dict[str, object]) -> set[tuple[str, str]]:
    results = scan.get("results", {})
    assert isinstance(results, dict)
    return {(name, entry["hashed_secret"]) for name, entries in results.items() for entry in entries}


def main() -> int:
    baseline = json.loads(Path(".secrets.baseline").read_text())
    scanned = subprocess.run(
        [str(Path(sys.executable).parent / "detect-secrets"), "scan", "--exclude-files", EXCLUDED],
        capture_output=True,
        text=True,
        check=True,
    )
    new = sorted(_found(json.loads(scanned.stdout)) - _found(baseline))
    for name, _hash in new:
        print(f"possible secret in {name} (detect-secrets); remove it, or audit it into .secrets.baseline")
    return 1 if new else 0


if __name__ == "__main__":
    raise SystemExit(main())
