"""Key names are derived from the model id, stay short, and never mix two swarms' records."""

from __future__ import annotations

import pytest

from chainswarm.dht.keys import MAX_NAME_CHARS, MODEL_INDEX_KEY, NAMESPACE, SwarmKeys, model_prefix


def test_prefix_keeps_safe_characters_and_replaces_the_rest():
    assert (
        model_prefix("HuggingFaceTB/SmolLM2-135M-Instruct")
        == "chainswarm.HuggingFaceTB-SmolLM2-135M-Instruct"
    )
    assert model_prefix("/models/llama 3.1//8b_it/") == "chainswarm.models-llama-3-1-8b_it"


def test_keys_of_one_swarm_are_distinct_and_share_the_prefix():
    keys = SwarmKeys.for_model("meta-llama/Llama-3.1-8B")
    names = [keys.nodes, keys.spec, keys.load, keys.moving]
    assert len(set(names)) == 4 and MODEL_INDEX_KEY not in names
    assert all(name.startswith(keys.prefix + ".") for name in names)
    assert keys.prefix.startswith(NAMESPACE + ".")


def test_long_ids_are_cut_but_stay_distinct():
    a, b = "org/" + "x" * 300 + "-a", "org/" + "x" * 300 + "-b"
    assert model_prefix(a) != model_prefix(b)
    assert len(model_prefix(a)) == len(NAMESPACE) + 1 + MAX_NAME_CHARS


@pytest.mark.parametrize("model_id", ["", "///", "..."])
def test_ids_without_a_name_are_refused(model_id):
    with pytest.raises(ValueError, match="no letters or digits"):
        model_prefix(model_id)
