"""Generation through real node processes on 127.0.0.1: exactness against Hugging Face, sampling,
stop strings, and a node killed in the middle of a generation."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from chainswarm.cli.processes import spawn
from chainswarm.models.spec import load_model_info
from chainswarm.routing.client import RemoteModel, connect
from chainswarm.routing.generation import FinishReason
from chainswarm.routing.session import SessionConfig
from tests.swarm_nodes import START_TIMEOUT_S, LocalSwarm, local_swarm_processes
from tests.tiny_model import write_tiny_llama

pytestmark = pytest.mark.swarm

NODE_ARGS = ("--memory", "2MiB", "--max-length", "256")
PROMPT = "The quick brown fox"


def online(count: int):
    return lambda view: len(view.online_nodes()) >= count and not view.uncovered()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama", num_layers=6)


@pytest.fixture(scope="module")
def swarm(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    """Three nodes: blocks [0,2), [2,4), [4,6)."""
    with local_swarm_processes(tmp_path_factory.mktemp("swarm"), load_model_info(tiny_model).model_id) as swarm:
        for a in (0, 2, 4):
            swarm.start_node(tiny_model, "--blocks", f"{a}:{a + 2}", *NODE_ARGS, name=f"node{a}")
        swarm.wait_for(online(3), START_TIMEOUT_S, "3 nodes online")
        yield swarm


@pytest.fixture(scope="module")
def model(swarm: LocalSwarm, tiny_model: Path) -> Iterator[RemoteModel]:
    with connect(tiny_model, swarm.initial_peers, refresh_period_s=1.0) as model:
        yield model


@pytest.fixture(scope="module")
def hf_greedy(tiny_model: Path, model: RemoteModel) -> list[int]:
    hf = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    ids = torch.tensor([model.client.generator.encode(PROMPT)])
    out = hf.generate(ids, max_new_tokens=32, do_sample=False)
    return out[0, ids.shape[1]:].tolist()


def test_greedy_through_three_nodes_equals_hugging_face(model: RemoteModel, hf_greedy: list[int]) -> None:
    completion = model.generate(PROMPT, max_new_tokens=32, temperature=0)
    assert completion.token_ids == hf_greedy
    assert [(h.start, h.end) for h in completion.route] == [(0, 2), (2, 4), (4, 6)]
    assert completion.failovers == 0
    tokenizer = model.client.generator.tokenizer
    assert completion.text == tokenizer.decode(hf_greedy, skip_special_tokens=True)


def test_streamed_pieces_make_the_same_text(model: RemoteModel) -> None:
    pieces = list(model.stream_sync(PROMPT, max_new_tokens=20, temperature=0))
    assert len(pieces) > 1
    assert "".join(pieces) == model.generate(PROMPT, max_new_tokens=20, temperature=0).text


async def test_async_stream_from_another_event_loop(model: RemoteModel) -> None:
    pieces = [p async for p in model.stream(PROMPT, max_new_tokens=12, temperature=0)]
    assert "".join(pieces) == model.generate(PROMPT, max_new_tokens=12, temperature=0).text


def test_seeded_sampling_is_reproducible(model: RemoteModel) -> None:
    runs = [model.generate(PROMPT, max_new_tokens=16, temperature=1.0, top_p=0.9, seed=s) for s in (1, 1, 2)]
    assert runs[0].token_ids == runs[1].token_ids
    assert runs[0].token_ids != runs[2].token_ids


def test_stop_string_ends_generation(model: RemoteModel) -> None:
    full = model.generate(PROMPT, max_new_tokens=32, temperature=0).text
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    assert stop.strip(), f"pick a visible stop string from {full!r}"
    cut = model.generate(PROMPT, max_new_tokens=32, temperature=0, stop=[stop])
    assert cut.text == full[: full.index(stop)]
    assert cut.finish_reason is FinishReason.STOP


def test_chat_template_is_applied_to_messages(model: RemoteModel) -> None:
    tokenizer = model.client.generator.tokenizer
    ids = model.client.generator.encode([{"role": "user", "content": "Hello"}])
    assert tokenizer.decode(ids).endswith("<|im_start|>assistant\n")


def test_generate_command_prints_only_the_generated_text(
    model: RemoteModel, swarm: LocalSwarm, tiny_model: Path, tmp_path: Path
) -> None:
    args = ["generate", "--model", str(tiny_model), "--initial-peers", *swarm.initial_peers,
            "--max-new-tokens", "12", "--temperature", "0"]
    raw = spawn([*args, "--no-chat-template", PROMPT], tmp_path / "raw.log", stdout=subprocess.PIPE)
    chat = spawn([*args, PROMPT], tmp_path / "chat.log", stdout=subprocess.PIPE)
    raw_out, _ = raw.popen.communicate(timeout=120)
    chat_out, _ = chat.popen.communicate(timeout=120)
    assert raw.popen.returncode == 0 and chat.popen.returncode == 0, raw.tail() + chat.tail()
    expected = model.generate(PROMPT, max_new_tokens=12, temperature=0).text
    assert raw_out.decode() == expected + "\n"
    messages = [{"role": "user", "content": PROMPT}]
    assert chat_out.decode() == model.generate(messages, max_new_tokens=12, temperature=0).text + "\n"
    assert "tokens in" in raw.log.read_text()  # the summary goes to stderr


def test_node_killed_mid_generation_gives_the_same_text(
    model: RemoteModel, swarm: LocalSwarm, tiny_model: Path
) -> None:
    """A backup node for blocks [2,6) joins; the node serving blocks 2.. is SIGKILLed after a few
    tokens; the session replays onto the survivors and the text is unchanged."""
    reference = model.generate(PROMPT, max_new_tokens=32, temperature=0)
    swarm.start_node(tiny_model, "--blocks", "2:6", *NODE_ARGS, name="backup")
    swarm.wait_for(online(4), START_TIMEOUT_S, "the backup node online")
    router = model.client.router
    model.submit(router.refresh()).result()

    pieces = model.stream_sync(PROMPT, max_new_tokens=32, temperature=0)
    text = next(pieces) + next(pieces)
    busy = [key for key, running in router.dispatcher.running.items() if running]
    assert len(busy) == 1
    servers, _ = busy[0]
    victim_id = servers[1]  # the node computing the blocks after [0,2)
    victim = next(p for p in swarm.procs if p.alive() and victim_id in _peer_ids(swarm, p))
    victim.kill()
    text += "".join(pieces)
    assert text == reference.text
    assert victim_id in router.bans.banned()


def _peer_ids(swarm: LocalSwarm, proc) -> str:
    """Peer ids announced by ``proc`` (its log names the id it serves as)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = proc.log.read_text(errors="replace")
        if " as " in log:
            return log
        time.sleep(0.1)
    return proc.log.read_text(errors="replace")


def test_relayed_and_pushed_steps_give_the_same_text(model: RemoteModel, swarm: LocalSwarm, tiny_model: Path,
                                                      hf_greedy: list[int]) -> None:
    """Nodes push each step's output to the next hop (every hop after the first gets its input that
    way); a client with push off relays every output itself; both equal Hugging Face."""
    router = model.client.router
    before = router.pushed_hops
    pushed = model.generate(PROMPT, max_new_tokens=8, temperature=0)
    assert len(pushed.route) >= 2
    assert router.pushed_hops - before == (len(pushed.route) - 1) * 8  # 8 steps: the prompt, then 7 tokens
    with connect(tiny_model, swarm.initial_peers, session=SessionConfig(push=False)) as relaying:
        relayed = relaying.generate(PROMPT, max_new_tokens=8, temperature=0)
        assert relaying.client.router.pushed_hops == 0
    assert pushed.token_ids == relayed.token_ids == hf_greedy[:8]
