"""The web service on hand-built views: /api/v1/state, /metrics (parsed by prometheus_client), the page."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from chainswarm.dht.records import NodeState
from chainswarm.dht.view import SwarmView
from chainswarm.monitor.web import Monitor, make_app
from tests.monitor.conftest import node, peer, view


class Views:
    """What the fake DHT read returns next; raises when ``error`` is set."""

    def __init__(self, *views: SwarmView) -> None:
        self.views = list(views)
        self.error: Exception | None = None

    def __call__(self) -> list[SwarmView]:
        if self.error is not None:
            raise self.error
        return self.views


@pytest.fixture
def views() -> Views:
    return Views(view(node("A", 0, 3, public_name="</script><b>x"), node("B", 3, 6, free=2), rates=(0.5,)))


@pytest.fixture
async def client(views: Views) -> AsyncIterator[tuple[TestClient, Monitor]]:
    monitor = Monitor(views, refresh_s=3600)
    async with TestClient(TestServer(make_app(monitor))) as test_client:
        yield test_client, monitor


async def test_state_lists_nodes_and_then_events(client, views: Views) -> None:
    http, monitor = client
    state = await (await http.get("/api/v1/state")).json()
    (model,) = state["models"]
    assert model["healthy"] and model["uncovered"] == [] and model["num_blocks"] == 6
    assert [(n["peer_id"], n["start"], n["end"]) for n in model["nodes"]] == [(peer("A"), 0, 3), (peer("B"), 3, 6)]
    assert state["events"] == [] and state["monitor"]["refresh_errors"] == 0

    views.views = [view(node("A", 0, 3), node("B", 3, 6, state=NodeState.DRAINING), read_at=105.0)]
    await monitor.refresh()
    state = await (await http.get("/api/v1/state")).json()
    assert state["models"][0]["uncovered"] == [3, 4, 5]
    assert [(e["kind"], e["peer_id"]) for e in state["events"]] == [("draining", peer("B"))]


async def test_failed_read_keeps_the_last_report(client, views: Views) -> None:
    http, monitor = client
    views.error = TimeoutError("reading the swarm: no answer")
    await monitor.refresh()
    state = await (await http.get("/api/v1/state")).json()
    assert len(state["models"][0]["nodes"]) == 2
    assert state["monitor"]["refresh_errors"] == 1 and "no answer" in state["monitor"]["last_error"]


async def test_metrics_parse_with_prometheus_client(client, views: Views) -> None:
    http, monitor = client
    views.views = [view(node("A", 0, 3), node("B", 3, 6, slots=6, free=2),
                        node("C", 0, 3, state=NodeState.JOINING), rates=(100.0,))]
    await monitor.refresh()
    response = await http.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(await response.text()) for s in family.samples}
    model = (("model", "org/tiny"),)
    assert samples["chainswarm_model_healthy", model] == 1.0
    assert samples["chainswarm_blocks_covered_once", model] == 6.0
    assert samples["chainswarm_nodes", (("model", "org/tiny"), ("state", "joining"))] == 1.0
    assert samples["chainswarm_nodes", (("model", "org/tiny"), ("state", "online"))] == 2.0
    assert samples["chainswarm_cache_slots_free", model] == 8.0 + 2.0
    assert samples["chainswarm_arrival_rate_jobs_per_second", model] == 100.0
    assert math.isinf(samples["chainswarm_response_time_upper_bound_seconds", model])  # λ ≥ ν
    assert samples["chainswarm_monitor_refresh_errors_total", ()] == 0.0
    node_b = (("model", "org/tiny"), ("peer_id", peer("B")), ("state", "online"))
    assert samples["chainswarm_node_cache_slots_free", node_b] == 2.0


async def test_page_inlines_the_state_with_untrusted_names_escaped(client) -> None:
    http, _ = client
    page = await (await http.get("/")).text()
    start = page.index('<script id="initial-state" type="application/json">') + len(
        '<script id="initial-state" type="application/json">')
    inlined = page[start:page.index("</script>", start)]
    state = json.loads(inlined)
    assert state["models"][0]["nodes"][0]["public_name"] == "</script><b>x"
    assert "<" not in inlined
