"""The README's main job: `chainswarm demo` starts a swarm of the bundled SmolLM2, answers, cleans up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

pytestmark = pytest.mark.swarm


def test_demo_answers_through_nodes_that_split_the_model():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    demo = subprocess.Popen(
        [sys.executable, "-m", "chainswarm.cli", "demo", "What is the capital of France?", "--max-new-tokens", "12"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        stdout, stderr = demo.communicate(timeout=280)
    finally:
        if demo.poll() is None:  # Ctrl-C: the demo stops the swarm it started before exiting
            demo.send_signal(signal.SIGINT)
            try:
                demo.communicate(timeout=60)
            finally:
                demo.kill()
    assert demo.returncode == 0, stderr[-3000:]
    assert "Paris" in stdout
    spans = [tuple(map(int, m)) for m in re.findall(r"node \d: blocks \[(\d+), (\d+)\)", stderr)]
    assert len(spans) == 3, stderr[-3000:]
    covered = set().union(*(range(a, b) for a, b in spans))
    assert covered == set(range(30)), spans  # the nodes placed themselves to cover all 30 blocks
    assert "swarm stopped" in stderr
