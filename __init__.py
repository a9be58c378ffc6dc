"""chainswarm: serve LLMs over a swarm of volunteer GPUs (GBP-CR placement, GCA caches, JFFC dispatch).

Client API::

    import chainswarm
    with chainswarm.connect("path/to/model.gguf", initial_peers=["/ip4/.../p2p/..."]) as model:
        print(model.generate("Hello", max_new_tokens=32, temperature=0))

``connect`` and ``RemoteModel`` are imported on first use, so ``import chainswarm`` (and the
``chainswarm`` command's ``--help``) stays free of torch and hivemind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["RemoteModel", "__version__", "connect"]

if TYPE_CHECKING:
    from chainswarm.routing.client import RemoteModel, connect


def __getattr__(name: str) -> Any:
    if name in ("connect", "RemoteModel"):
        from chainswarm.routing import client

        return getattr(client, name)
    raise AttributeError(f"module 'chainswarm' has no attribute {name!r}")
