"""README's "Layout" section names every code folder of the product (or the folder holding it), and every path
it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("hub", "connectors", "mappings")


def _layout_paths() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    return [match.group(1) for match in re.finditer(r"^(\S+)\s", block, flags=re.MULTILINE)]


def _packages() -> set[str]:
    found = set()
    for top in PRODUCT:
        for init in (ROOT / top).rglob("__init__.py"):
            folder = init.parent.relative_to(ROOT).as_posix()
            if folder not in PRODUCT:
                found.add(f"{folder}/")
    return found


def test_every_path_the_layout_names_exists() -> None:
    paths = _layout_paths()
    assert len(paths) > 10
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert missing == []


def test_every_package_of_the_product_is_in_the_layout() -> None:
    named = set(_layout_paths())
    assert "hub/store/" in _packages()
    unnamed = [
        folder for folder in _packages() if folder not in named and f"{Path(folder).parent.as_posix()}/" not in named
    ]
    assert sorted(unnamed) == []
