"""chainswarm: serve LLMs over a swarm of volunteer GPUs (GBP-CR placement, GCA caches, JFFC dispatch)."""

__version__ = "0.1.0"
