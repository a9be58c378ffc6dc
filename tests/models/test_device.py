"""Device and dtype choices shared by nodes and clients: defaults, and clear errors for typos."""

from __future__ import annotations

import pytest
import torch

from chainswarm.models.device import resolve_device, resolve_dtype
from chainswarm.routing.client import ClientConfig

PEERS = ("/ip4/127.0.0.1/tcp/1/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq",)


def test_auto_picks_float32_on_the_cpu():
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(("device", "dtype", "message"), [
    ("tpu", "auto", "unknown device 'tpu'"),
    ("cpu", "fp16", "unknown dtype 'fp16'"),
])
def test_typos_get_a_message_that_says_what_to_use(device, dtype, message):
    with pytest.raises(ValueError, match=message):
        resolve_dtype(dtype, resolve_device(device))
    with pytest.raises(ValueError, match=message):  # a client fails before it joins any swarm
        ClientConfig("model-dir", PEERS, device=device, dtype=dtype)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_is_refused():
    with pytest.raises(ValueError, match="no CUDA GPU is visible"):
        resolve_device("cuda")
