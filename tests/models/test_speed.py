"""measure_block_speed runs on any span and reports per-block figures (its numbers are for bench/, not asserted)."""

from __future__ import annotations

from chainswarm.models.random_init import random_span
from chainswarm.models.speed import measure_block_speed


def test_measure_block_speed_reports_positive_per_block_figures(tiny_info):
    speed = measure_block_speed(random_span(tiny_info, 0, 2), prefill_tokens=4, decode_steps=2, repeats=2)
    assert speed.prefill_s_per_token > 0 and speed.decode_s_per_step > 0
    assert (speed.prefill_tokens, speed.decode_steps) == (4, 2)
