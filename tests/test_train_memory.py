"""utils.train_memory's exact per-step peak: Linux's high-water mark of resident memory, reset at each step."""

import mmap
import sys

import pytest

from utils.train_memory import peak_rss, reset_peak_rss

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and clear_refs are Linux's")

MIB = 2**20
PAGE = mmap.PAGESIZE


def touch_and_free(size: int) -> None:
    """Map ``size`` bytes straight from the kernel, touch every page (resident), unmap them: a short spike that no
    allocator keeps (malloc may keep freed memory, or serve a block from memory already resident)."""
    block = mmap.mmap(-1, size)
    for offset in range(0, size, PAGE):
        block[offset] = 1
    block.close()


def test_the_peak_sees_a_short_allocation_and_a_reset_forgets_it():
    assert reset_peak_rss()
    start = peak_rss()
    touch_and_free(200 * MIB)
    after_spike = peak_rss()
    assert after_spike - start >= 190 * MIB, (
        f"a freed 200 MiB block must stay in the peak: +{(after_spike - start) / MIB:.0f} MiB"
    )

    assert reset_peak_rss()
    peak, resident = peak_rss(), current_rss()
    assert peak < after_spike - 150 * MIB, f"the reset forgot nothing: {peak / MIB:.0f} MiB"
    assert peak - resident < 50 * MIB, "after a reset the peak restarts from the current memory"


def current_rss() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
