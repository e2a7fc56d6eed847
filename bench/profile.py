"""Summaries of py-spy's raw (collapsed-stack) profiles: where the hub spends its CPU.

Each line of a raw profile is ``frame;frame;...;frame count``, a frame ``function (file:line)``. A frame's
*self* share counts the samples where it is the innermost frame; its *inclusive* share counts every sample
with the frame anywhere on the stack (once per sample). Grouping by file (or by package) shows which layer
costs most: pydantic validation, SQLAlchemy, aiokafka, the event loop.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True, slots=True)
class Hotspot:
    where: str
    samples: int
    share: float  # of all samples


def _stacks(path: Path) -> list[tuple[list[str], int]]:
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _file_of(frame: str) -> str:
    match = _FRAME.match(frame)
    return match.group("file") if match else frame


def _package_of(frame: str) -> str:
    file = _file_of(frame)
    head = file.split("/", 1)[0]
    return head.removesuffix(".py")


def _is_project(frame: str) -> bool:
    file = _file_of(frame)
    return file.startswith(("hub/", "connectors/")) and file not in _ENTRY_FILES


_ENTRY_FILES = frozenset({"hub/__main__.py", "hub/cli.py"})


def summarise(path: Path, *, top: int = 20) -> dict[str, list[Hotspot]]:
    """The top frames by self and by inclusive samples, the project's own frames (hub/, connectors/) by
    inclusive samples, and the files and packages by self samples."""
    stacks = _stacks(path)
    total = sum(count for _, count in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    for frames, count in stacks:
        leaf = frames[-1]
        own[leaf] += count
        by_file[_file_of(leaf)] += count
        by_package[_package_of(leaf)] += count
        for frame in set(frames):
            inclusive[frame] += count

    def hotspots(counter: Counter[str]) -> list[Hotspot]:
        return [Hotspot(where, samples, samples / total) for where, samples in counter.most_common(top)]

    project = Counter({frame: count for frame, count in inclusive.items() if _is_project(frame)})
    return {
        "self": hotspots(own),
        "inclusive": hotspots(inclusive),
        "project code, inclusive": hotspots(project),
        "files": hotspots(by_file),
        "packages": hotspots(by_package),
    }


def render(summary: dict[str, list[Hotspot]]) -> str:
    lines: list[str] = []
    for title, spots in summary.items():
        lines.append(f"== by {title} ==")
        lines.extend(f"{spot.share * 100:6.1f}%  {spot.samples:7d}  {spot.where}" for spot in spots)
        lines.append("")
    return "\n".join(lines)
