"""The tests mirror the source: each unit test file is named after the module (or package) it tests, in the
folder that mirrors that module's; and every test file the docs point to exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "tests" / "unit"
# tests of the repository as a whole, not of one module
REPOSITORY_WIDE = ("test_readme_", "test_repository_")


def source_folder(test_folder: Path) -> Path:
    """tests/unit/connectors/mllp -> connectors/mllp; tests/unit/mappings/... -> mappings/...; else hub/..."""
    parts = test_folder.relative_to(UNIT).parts
    if parts and parts[0] in ("connectors", "mappings"):
        return ROOT.joinpath(*parts)
    return ROOT.joinpath("hub", *parts)


def names_in(folder: Path) -> set[str]:
    modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    packages = {p.parent.name for p in folder.glob("*/__init__.py")}
    return modules | packages


def mirrors(test_file: Path) -> bool:
    name = test_file.stem.removeprefix("test_")
    return any(name == tested or name.startswith(f"{tested}_") for tested in names_in(source_folder(test_file.parent)))


def test_a_test_named_after_no_module_is_seen() -> None:
    assert mirrors(UNIT / "deliver" / "test_worker_poison.py")
    assert mirrors(UNIT / "connectors" / "mllp" / "test_framing.py")
    assert not mirrors(UNIT / "deliver" / "test_delivery_poison.py")


def test_every_unit_test_file_is_named_after_the_module_it_tests() -> None:
    files = [p for p in UNIT.rglob("test_*.py") if not p.name.startswith(REPOSITORY_WIDE) or p.parent != UNIT]
    assert len(files) > 50
    astray = sorted(str(p.relative_to(ROOT)) for p in files if not mirrors(p))
    assert astray == []


def test_every_test_file_the_docs_name_exists() -> None:
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    test_files = {p.name for p in (ROOT / "tests").rglob("test_*.py")}
    missing = []
    for text in texts:
        content = text.read_text(encoding="utf-8")
        for path in re.findall(r"tests/[\w/]+\.py", content):
            if not (ROOT / path).exists():
                missing.append(f"{text.name}: {path}")
        for name in re.findall(r"`(test_\w+\.py)`", content):
            if name not in test_files:
                missing.append(f"{text.name}: {name}")
    assert missing == []
