"""JFFC-only baseline: whole-model servers, capacity ⌊(M − s_m·L)/(s_c·L)⌋."""

from __future__ import annotations

import pytest

from chainswarm.placement import ModelSpec, ServerSpec, Span
from chainswarm.placement.baselines import jffc_only_capacity, jffc_only_chains, jffc_only_placement

LLAMA_7B = ModelSpec(32, 0.4375, 0.0336)


def test_capacity_matches_the_papers_llama_arithmetic():
    # paper's working notes: 24 jobs on a 40 GB slice, 5 on a 20 GB slice (1.08 GB cache per job)
    assert jffc_only_capacity(40.0, LLAMA_7B) == 24
    assert jffc_only_capacity(20.0, LLAMA_7B) == 5
    assert jffc_only_capacity(14.0, LLAMA_7B) == 0


def test_capacity_floor_is_exact():
    model = ModelSpec(3, 1.0, 0.1)
    # (3.3 − 3)/(0.1·3) is 0.9999999999999993 in floating point; one job fits exactly
    assert (3.3 - 3 * 1.0) / (0.1 * 3) < 1
    assert jffc_only_capacity(3.3, model) == 1


def test_chains_are_one_server_each_fastest_first():
    servers = [
        ServerSpec("slow", 20.0, 1.0, 0.2),
        ServerSpec("fast", 40.0, 1.0, 0.1),
        ServerSpec("tiny", 10.0, 1.0, 0.05),
    ]
    chains = jffc_only_chains(servers, LLAMA_7B)
    assert [c.servers for c in chains] == [("fast",), ("slow",)]
    assert [c.blocks for c in chains] == [(32,), (32,)]
    assert chains[0].service_time == pytest.approx(1.0 + 0.1 * 32)
    assert [c.capacity for c in chains] == [24, 5]
    assert jffc_only_placement(servers, LLAMA_7B) == {"slow": Span(0, 32), "fast": Span(0, 32)}


def test_no_server_fits_the_whole_model():
    bloom = ModelSpec(70, 1.32, 0.11)
    with pytest.raises(ValueError, match="no server fits"):
        jffc_only_chains([ServerSpec("a", 40.0, 1.0, 0.1)], bloom)
