"""OpenAI-compatible HTTP API over a swarm client (``chainswarm serve``)."""
