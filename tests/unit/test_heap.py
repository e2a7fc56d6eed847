"""The hub's collector settings: what was loaded at start is frozen, young collections are rarer."""

from __future__ import annotations

import gc

from hub import heap


def test_settling_freezes_what_is_loaded_and_widens_the_thresholds() -> None:
    before = gc.get_threshold()
    loaded = [{"n": i} for i in range(1000)]  # stands for the register and compiled profiles
    try:
        heap.settle_after_start()
        assert gc.get_freeze_count() >= len(loaded)
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, heap.MIDDLE_THRESHOLD, heap.OLD_THRESHOLD)
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # cycles made after start are still collected
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
