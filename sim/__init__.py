"""Discrete-event simulator of a swarm serving a chain-structured model (paper §5.2): workloads
(Poisson or a replayed trace), the paper's swarm setting, the proposed policy and the Petals,
BPRR-like and JFFC-only baselines, driven by one event loop (``engine.simulate``)."""
