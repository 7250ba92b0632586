"""The arena planner: buffers live at the same time never overlap, the plan is as small as the
most memory live at once where greedy placement can reach it, and across dtypes and sizes."""

from __future__ import annotations

import numpy as np
import pytest

from edgec.backends.c.arena import ALIGN, Buffer, align, check, lower_bound, plan


def test_a_chain_reuses_memory_like_ping_pong():
    # x0 -> x1 -> x2 -> x3: each buffer lives from its producer to its consumer
    buffers = [Buffer(i, 1000, i, i + 1) for i in range(4)]
    result = plan(buffers)
    check(buffers, result)
    assert result.size == 2 * align(1000) == result.lower_bound


def test_buffers_of_any_size_share_memory_after_they_die():
    # a large int32 tensor, then small float and int8 ones in the same place (TVM's static
    # plan reuses only same-dtype storage within a 16x size range)
    buffers = [Buffer("big", 40000, 0, 1), Buffer("small", 100, 2, 3), Buffer("tiny", 3, 3, 4),
               Buffer("next", 2000, 1, 2)]
    result = plan(buffers)
    check(buffers, result)
    assert result.size == result.lower_bound == align(40000) + align(2000)
    assert result.offsets["small"] == 0 or result.offsets["tiny"] == 0


def test_random_lifetimes_are_always_valid_and_never_below_the_bound():
    rng = np.random.default_rng(0)
    for _ in range(200):
        buffers = []
        for key in range(int(rng.integers(1, 30))):
            first = int(rng.integers(0, 20))
            buffers.append(Buffer(key, int(rng.integers(0, 5000)), first,
                                  first + int(rng.integers(0, 6))))
        result = plan(buffers)
        check(buffers, result)
        assert result.size >= result.lower_bound
        assert all(offset % ALIGN == 0 for offset in result.offsets.values())


def test_overlap_is_caught_by_the_check():
    buffers = [Buffer("a", 64, 0, 2), Buffer("b", 64, 1, 3)]
    result = plan(buffers)
    result.offsets["b"] = result.offsets["a"]
    with pytest.raises(AssertionError):
        check(buffers, result)


def test_empty_and_zero_sized():
    assert plan([]).size == 0
    assert plan([Buffer("z", 0, 0, 1)]).size == 0
    assert lower_bound([Buffer("a", 10, 0, 0), Buffer("b", 10, 0, 0)]) == 2 * ALIGN
