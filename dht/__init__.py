"""The swarm's shared state on hivemind's DHT.

``records`` (typed, validated records; no hivemind import), ``keys`` (key names per model),
``view`` (one model's swarm as read, and the rules readers agree by; no hivemind import),
``peer`` (start this process's DHT peer), ``rejoin`` (re-dial lost initial peers),
``swarm`` (announce and read one model's swarm).
"""
