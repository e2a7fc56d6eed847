"""The console's SVG charts: one bar per label, layers stacked in order and in proportion, text escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from hub.console.charts import Series, nice_ceiling, stacked_bars

SVG = "{http://www.w3.org/2000/svg}"


def test_the_value_axis_ends_at_one_two_or_five_times_a_power_of_ten() -> None:
    values = (0, 1, 3, 7, 10, 11, 26, 99, 101, 4000)
    assert [nice_ceiling(v) for v in values] == [1, 1, 5, 10, 10, 20, 50, 100, 200, 5000]


def test_each_bar_stacks_its_layers_in_proportion_to_the_top_of_the_axis() -> None:
    chart = stacked_bars(
        ["10:00", "10:01", "10:02"],
        [Series("acknowledged", (4, 0, 10)), Series("failed", (1, 0, 0), "#d55e00")],
        title="per minute",
        height=200,
    )
    root = ET.fromstring(str(chart))
    bars = root.findall(f"{SVG}g")
    assert [b.get("data-total") for b in bars] == ["5", "0", "10"]
    first = bars[0].findall(f"{SVG}rect")
    heights = [float(r.get("height", "0")) for r in first]
    assert len(heights) == 2 and heights[0] == pytest.approx(4 * heights[1])
    assert first[1].get("fill") == "#d55e00"
    assert float(first[1].get("y", "0")) + heights[1] == pytest.approx(float(first[0].get("y", "0")))  # on top
    tallest = float(bars[2].findall(f"{SVG}rect")[0].get("height", "0"))
    assert tallest == pytest.approx(heights[0] * 10 / 4)  # 10 is the top of the axis: the full plot height
    assert bars[1].findall(f"{SVG}rect") == [] and "none" in (bars[1].findtext(f"{SVG}title") or "")
    assert bars[0].findtext(f"{SVG}title") == "10:00: 4 acknowledged, 1 failed"


def test_labels_and_names_are_escaped() -> None:
    chart = str(stacked_bars(["<b>"], [Series("a&b", (1,))], title='"quoted" <title>', label_every=1))
    assert "<b>" not in chart and "&lt;b&gt;" in chart and "a&amp;b" in chart
    ET.fromstring(chart)  # well-formed


def test_every_series_needs_a_value_per_label() -> None:
    with pytest.raises(ValueError, match="one value per label"):
        stacked_bars(["a", "b"], [Series("x", (1,))], title="t")


def test_an_empty_hour_is_a_chart_with_no_bars_drawn() -> None:
    chart = str(stacked_bars(["10:00"] * 60, [], title="nothing"))
    assert re.findall(r'data-total="(\d+)"', chart) == ["0"] * 60


def test_labels_are_counted_back_from_the_newest_bar() -> None:
    labels = [f"10:{m:02d}" for m in range(25)]
    chart = str(stacked_bars(labels, [Series("x", (1,) * 25)], title="t", label_every=10))
    assert re.findall(r'text-anchor="middle"[^>]*>([^<]+)<', chart) == ["10:04", "10:14", "10:24"]
