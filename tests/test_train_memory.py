"""utils.train_memory's exact per-step peak: Linux's high-water mark of resident memory, reset at each step."""

import sys

import numpy as np
import pytest

from utils.train_memory import peak_rss, reset_peak_rss

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and clear_refs are Linux's")

MIB = 2**20


def test_the_peak_sees_a_short_allocation_and_a_reset_forgets_it():
    assert reset_peak_rss()
    start = peak_rss()
    block = np.ones(200 * MIB // 8)  # 200 MiB, every page touched
    del block
    after_spike = peak_rss()
    assert after_spike - start >= 190 * MIB, "a freed 200 MiB block must stay in the peak"

    assert reset_peak_rss()
    assert peak_rss() < after_spike - 150 * MIB, "after a reset the peak starts again from the current memory"
