"""Swarm health: what ``chainswarm health`` prints and ``chainswarm monitor`` serves.

``collect`` (a swarm view → :class:`ModelHealth`: coverage, block map, GCA chains, ν, λ, Theorem-4
bounds), ``events`` (joins, departures, expiries and moves by diffing reads), ``report`` (terminal
text), ``metrics`` (Prometheus text), ``page`` (the dashboard HTML), ``web`` (the aiohttp service),
``source`` (which swarms to read, and reading them from the DHT).
"""
