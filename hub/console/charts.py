"""Charts as inline SVG, made on the server from numbers (pure): no script, no library in the browser.

Every text in a chart is escaped here; the result is safe to put into a page as it is (``Markup``). Colours are
SVG presentation attributes, which the console's Content-Security-Policy (no inline styles) allows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# colours that stay apart for the usual colour blindness (Okabe and Ito), then greys
PALETTE = ("#0072b2", "#009e73", "#e69f00", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442", "#999999", "#555555")


@dataclass(frozen=True, slots=True)
class Series:
    """One layer of a stacked bar chart: a name for the legend and one value per bar."""

    name: str
    values: tuple[int, ...]
    colour: str = ""


def nice_ceiling(value: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1): the top of the value axis."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def stacked_bars(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    label_every: int = 10,
    width: int = 720,
    height: int = 200,
) -> Markup:
    """A stacked bar chart: one bar per label, each series a layer in the order given, with a value axis, every
    `label_every`-th label under its bar (counted back from the last, the newest), a legend, and a tooltip per bar
    with its numbers."""
    if any(len(s.values) != len(labels) for s in series):
        raise ValueError("every series needs one value per label")
    left, right, top, legend_height, bottom = 40, 22, 8, 22, 20
    plot_width, plot_height = width - left - right, height - top - bottom - legend_height
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    ceiling = nice_ceiling(max(totals, default=0))
    colours = [s.colour or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]
    slot = plot_width / max(1, len(labels))
    bar = max(1.0, slot * 0.8)
    base = top + plot_height
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in (0, ceiling / 2, ceiling):
        y = base - plot_height * tick / ceiling
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_number(y)}" y2="{_number(y)}" stroke="#dddddd" />'
            f'<text x="{left - 4}" y="{_number(y + 4)}" text-anchor="end" font-size="11" fill="#555555">'
            f"{_number(tick)}</text>"
        )
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar) / 2
        y = float(base)
        layers = []
        for s, colour in zip(series, colours, strict=True):
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_height * value / ceiling
            y -= h
            layers.append(
                f'<rect x="{_number(x)}" y="{_number(y)}" width="{_number(bar)}" height="{_number(h)}" '
                f'fill="{colour}" />'
            )
        numbers = ", ".join(f"{s.values[i]} {s.name}" for s in series if s.values[i] > 0) or "none"
        parts.append(
            f'<g class="bar" data-total="{totals[i]}"><title>{escape(label)}: {escape(numbers)}</title>'
            + "".join(layers)
            + "</g>"
        )
        if label_every and (len(labels) - 1 - i) % label_every == 0:  # counted from the newest bar
            parts.append(
                f'<text x="{_number(x + bar / 2)}" y="{base + 14}" text-anchor="middle" font-size="11" '
                f'fill="#555555">{escape(label)}</text>'
            )
    x = float(left)
    legend_y = height - 6
    for s, colour in zip(series, colours, strict=True):
        parts.append(
            f'<rect x="{_number(x)}" y="{legend_y - 9}" width="10" height="10" fill="{colour}" />'
            f'<text x="{_number(x + 14)}" y="{legend_y}" font-size="11" fill="#333333">{escape(s.name)}</text>'
        )
        x += 24 + 7 * len(s.name)
    parts.append("</svg>")
    return Markup("".join(parts))
