"""A client pointed at a swarm where no node serves its model gets a clear error, not a long wait."""

from __future__ import annotations

import pytest

from chainswarm.models.spec import load_model_info
from chainswarm.routing.client import connect
from chainswarm.routing.session import ChainUnavailable
from tests.swarm_nodes import local_swarm_processes
from tests.tiny_model import write_tiny_llama

pytestmark = pytest.mark.swarm


def test_no_node_announced_fails_after_the_short_timeout(tmp_path):
    model = write_tiny_llama(tmp_path / "tiny", num_layers=2)
    with local_swarm_processes(tmp_path, load_model_info(model).model_id) as swarm:
        with connect(model, swarm.initial_peers, no_swarm_timeout_s=2.0, dispatch_timeout_s=600.0) as client:
            with pytest.raises(ChainUnavailable, match="no node of this model is announced"):
                client.generate("hello", max_new_tokens=2)
