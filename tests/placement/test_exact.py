import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainswarm.placement import ModelSpec, blocks_for_reservation, cache_slots
from chainswarm.placement.exact import blocks_for_reservation_many, exact_value


def test_float_quotients_that_round_below_an_integer_count_exactly():
    assert math.floor(0.3 / 0.1) == 2  # the trap
    assert cache_slots(0.3, ModelSpec(4, block_bytes=1.0, cache_bytes=0.1), 0) == 3
    assert cache_slots(1.3, ModelSpec(4, block_bytes=1.0, cache_bytes=0.1), 1) == 3
    assert math.floor(3.3 / 1.1) == 2
    assert blocks_for_reservation(3.3, ModelSpec(8, block_bytes=1.0, cache_bytes=0.1), 1) == 3
    assert blocks_for_reservation(3.3, ModelSpec(8, block_bytes=0.1, cache_bytes=1.0), 1) == 3


def test_counts_follow_the_paper_formulas():
    model = ModelSpec(70, block_bytes=1.32, cache_bytes=0.11)
    assert cache_slots(40, model, 20) == math.floor((Fraction(40) - Fraction("26.4")) / Fraction("0.11"))
    assert cache_slots(20, model, 20) == 0  # blocks alone do not fit
    assert blocks_for_reservation(40, model, 7) == math.floor(Fraction(40) / Fraction("2.09"))
    assert blocks_for_reservation(1000, model, 1) == 70  # capped at L
    assert blocks_for_reservation(1, model, 1) == 0


def test_integer_bytes_are_exact_and_stay_integers():
    model = ModelSpec(70, block_bytes=1_320_000_000, cache_bytes=110_000_000)
    memory = 40 * 10**9
    assert cache_slots(memory, model, 20) == (memory - 20 * 1_320_000_000) // 110_000_000
    assert blocks_for_reservation(memory, model, 7) == memory // (1_320_000_000 + 7 * 110_000_000)
    assert isinstance(cache_slots(memory, model, 20), int)
    assert cache_slots(np.int64(memory), model, 20) == cache_slots(memory, model, 20)


def test_exact_value_reads_floats_as_their_shortest_decimal():
    assert exact_value(0.1) == Fraction(1, 10)
    assert exact_value(np.float64(0.3)) == Fraction(3, 10)
    assert exact_value(7) == 7
    with pytest.raises(ValueError):
        exact_value(math.inf)


def test_negative_inputs_are_rejected():
    model = ModelSpec(4, 1.0, 0.1)
    with pytest.raises(ValueError):
        cache_slots(3, model, -1)
    with pytest.raises(ValueError):
        blocks_for_reservation(3, model, -1)


_decimals = st.integers(1, 10_000).map(lambda n: n / 100)


@given(memory=_decimals, s_m=_decimals, s_c=_decimals, m=st.integers(0, 50), c=st.integers(0, 50))
def test_counts_equal_exact_decimal_arithmetic(memory, s_m, s_c, m, c):
    model = ModelSpec(40, s_m, s_c)
    M, S_m, S_c = (Fraction(repr(x)) for x in (memory, s_m, s_c))
    assert cache_slots(memory, model, m) == max(0, math.floor((M - S_m * m) / S_c))
    expected = max(0, min(math.floor(M / (S_m + S_c * c)), 40))
    assert blocks_for_reservation(memory, model, c) == expected
    assert blocks_for_reservation_many([memory, memory], model, c).tolist() == [expected, expected]
