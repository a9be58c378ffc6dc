"""The terminal report and the choice of model."""

from __future__ import annotations

import pytest

from chainswarm.dht.keys import model_prefix
from chainswarm.dht.records import NodeState
from chainswarm.monitor.collect import collect
from chainswarm.monitor.report import MAP_WIDTH, block_ranges, format_bytes, render_health
from chainswarm.monitor.source import ModelChoiceError, NoModelAnnounced, model_prefixes, pick_prefix
from tests.monitor.conftest import SPEC, node, peer, view


def map_rows(text: str) -> list[tuple[str, str]]:
    """(label, bar) of each block-map line ``label |bar|``."""
    return [(line.split("|")[0].strip(), line.split("|")[1]) for line in text.splitlines() if line.count("|") == 2]


def test_block_ranges_and_bytes() -> None:
    assert block_ranges([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8"
    assert block_ranges([]) == ""
    assert format_bytes(3 * 2**30 // 2) == "1.5 GiB" and format_bytes(512) == "512 B"


def test_unhealthy_report_names_the_gap_and_draws_each_node() -> None:
    text = render_health(collect(view(node("A", 0, 2, public_name="alice"), node("B", 4, 6),
                                      node("C", 0, 6, state=NodeState.JOINING))))
    assert "UNHEALTHY" in text and "blocks 2-3 have no online node" in text
    rows = dict(map_rows(text))
    assert rows == {"coverage": "11!!11", "alice": "##....", ".." + peer("B")[-8:]: "....##",
                    ".." + peer("C")[-8:]: "++++++"}
    assert "none - the online nodes do not cover every block" in text
    assert text.isascii()


def test_healthy_report_lists_chains_and_load() -> None:
    text = render_health(collect(view(node("A", 0, 3), node("B", 3, 6), rates=(0.5,))))
    assert "status: HEALTHY" in text and "blocks 0-5 have only one" in text
    assert "chains (GCA), fastest first: 1" in text
    assert "demand lambda = 0.5 jobs/s (announced by 1 client(s))" in text


def test_wide_model_groups_blocks_per_column() -> None:
    wide = SPEC.replace(num_blocks=150)
    text = render_health(collect(view(node("A", 0, 75), node("B", 75, 150), spec=wide)))
    bars = [bar for _, bar in map_rows(text)]
    assert bars and all(len(bar) <= MAP_WIDTH for bar in bars)
    assert bars[1].startswith("#") and bars[1].endswith(".") and bars[2].startswith(".")


def test_model_choice() -> None:
    other = SPEC.replace(model_id="org/other")
    index = {model_prefix(SPEC.model_id): SPEC, model_prefix("org/other"): other}
    assert model_prefixes(index, None) == sorted(index)
    assert pick_prefix(index, "org/other") == model_prefix("org/other")
    assert pick_prefix(index, model_prefix(SPEC.model_id)) == model_prefix(SPEC.model_id)
    assert pick_prefix(index, "unlisted/model") == model_prefix("unlisted/model")
    assert pick_prefix({model_prefix(SPEC.model_id): SPEC}, None) == model_prefix(SPEC.model_id)
    with pytest.raises(ModelChoiceError, match="org/other, org/tiny"):
        pick_prefix(index, None)
    with pytest.raises(NoModelAnnounced):
        pick_prefix({}, None)
