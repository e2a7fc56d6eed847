"""The garbage collector, tuned for a long-running hub.

At start the hub loads its register, profiles and compiled rules: hundreds of thousands of objects that
live as long as the process. CPython's default collector walks them again and again (a full collection
whenever enough young objects survive), and parsing JSON messages allocates fast enough to trigger it
constantly: about a quarter of the hub's CPU under load. So, once started, the hub moves what it has
loaded out of the collector's sight (``gc.freeze``) and lets many more allocations pass between young
collections. Reference counting still frees almost everything at once; the collector is only for cycles,
which stay bounded (the memory scenario of ``python -m bench`` shows it).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 100_000  # allocations between collections of the youngest generation (default 700)
MIDDLE_THRESHOLD = 50  # young collections per middle collection (default 10)
OLD_THRESHOLD = 100  # middle collections per full collection (default 10)


def settle_after_start() -> None:
    """Collect once, freeze what survived (it lives as long as the process), and widen the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
