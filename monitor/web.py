"""The monitor's web service (aiohttp): the dashboard at ``/``, ``/api/v1/state`` and ``/metrics``.

Unlike health.petals.dev, which reads the DHT once a minute in a thread of a Flask app, the
service reads in the background every ``refresh_s`` and every handler answers from the last
report, so a slow or failing DHT never stalls a request: a failed read keeps the previous
report and says so in ``monitor.last_error`` (JSON) and ``chainswarm_monitor_refresh_errors_total``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from chainswarm.dht.view import SwarmView
from chainswarm.monitor.collect import HealthReport, collect
from chainswarm.monitor.events import EventLog
from chainswarm.monitor.metrics import CONTENT_TYPE, MonitorStats, render_metrics
from chainswarm.monitor.page import render_page

logger = logging.getLogger(__name__)

DEFAULT_REFRESH_S = 5.0
"""Between reads of the swarm: below the nodes' default announce period (10 s), so every record
change shows within one period, and one DHT traversal per model per read is cheap."""


class Monitor:
    """Keeps the latest :class:`HealthReport` fresh from ``read_views``, a blocking function
    (run in a worker thread) returning one view per watched model. Use from one event loop."""

    def __init__(self, read_views: Callable[[], list[SwarmView]], refresh_s: float = DEFAULT_REFRESH_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.refresh_s = refresh_s
        self.events = EventLog()
        self.report = HealthReport(read_at=clock(), models=())
        self.refreshed_at = 0.0
        self.refresh_errors = 0
        self.last_error: str | None = None
        self._read_views = read_views

    async def refresh(self) -> None:
        """Read every watched swarm once; on failure keep the previous report and count the error."""
        try:
            views = await asyncio.to_thread(self._read_views)
        except Exception as e:  # the DHT may time out or be partitioned; the next read retries
            self.refresh_errors += 1
            self.last_error = f"{type(e).__name__}: {e}"
            logger.warning("reading the swarm failed: %s", self.last_error)
            return
        models = tuple(collect(view) for view in views)
        for health in models:
            self.events.observe(health)
        read_at = max((view.read_at for view in views), default=self.report.read_at)
        self.report = HealthReport(read_at, models, tuple(self.events.recent()))
        self.refreshed_at = read_at
        self.last_error = None

    async def run(self) -> None:
        """Refresh every ``refresh_s`` until cancelled."""
        while True:
            await asyncio.sleep(self.refresh_s)
            await self.refresh()

    def state(self) -> dict[str, Any]:
        """The JSON of ``/api/v1/state``: the report plus the monitor's own status."""
        return {**self.report.to_json(), "monitor": {
            "refresh_s": self.refresh_s, "refreshed_at": self.refreshed_at,
            "refresh_errors": self.refresh_errors, "last_error": self.last_error}}

    def metrics(self) -> str:
        return render_metrics(self.report, MonitorStats(self.refreshed_at, self.refresh_errors))


def make_app(monitor: Monitor) -> web.Application:
    """The web application; it reads the swarm once before serving, then every ``refresh_s``."""
    app = web.Application()

    async def dashboard(_request: web.Request) -> web.Response:
        return web.Response(text=render_page(monitor.state(), monitor.refresh_s), content_type="text/html")

    async def state(_request: web.Request) -> web.Response:
        return web.json_response(monitor.state(), headers={"Cache-Control": "no-store"})

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=monitor.metrics().encode(), headers={"Content-Type": CONTENT_TYPE})

    async def background(_app: web.Application):
        await monitor.refresh()
        task = asyncio.create_task(monitor.run())
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    app.router.add_get("/", dashboard)
    app.router.add_get("/api/v1/state", state)
    app.router.add_get("/metrics", metrics)
    app.cleanup_ctx.append(background)
    return app
