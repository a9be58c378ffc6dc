"""The OpenAI-compatible server answering the official ``openai`` client, over a real swarm."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from aiohttp import web

from chainswarm.api.server import create_app
from chainswarm.cli.processes import spawn
from chainswarm.models.spec import load_model_info
from chainswarm.routing.client import RemoteModel, connect
from tests.swarm_nodes import START_TIMEOUT_S, LocalSwarm, local_swarm_processes
from tests.tiny_model import write_tiny_llama

pytestmark = pytest.mark.swarm

PROMPT = "Hello world, how"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama", num_layers=6)


@pytest.fixture(scope="module")
def swarm(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSwarm]:
    """One node hosting all 6 blocks of the tiny Llama."""
    with local_swarm_processes(tmp_path_factory.mktemp("swarm"), load_model_info(tiny_model).model_id) as swarm:
        swarm.start_node(tiny_model, "--blocks", "0:6", "--memory", "4MiB", "--max-length", "128")
        swarm.wait_for(lambda v: len(v.online_nodes()) == 1, START_TIMEOUT_S, "the node online")
        yield swarm


@pytest.fixture(scope="module")
def model(swarm: LocalSwarm, tiny_model: Path) -> Iterator[RemoteModel]:
    with connect(tiny_model, swarm.initial_peers) as model:
        yield model


@pytest.fixture(scope="module")
def base_url(model: RemoteModel) -> Iterator[str]:
    async def start() -> web.AppRunner:
        runner = web.AppRunner(create_app(model.client))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return runner

    runner = model.submit(start()).result()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/v1"
    model.submit(runner.cleanup()).result()


@pytest.fixture(scope="module")
def api(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def model_name(api: openai.OpenAI, model: RemoteModel) -> str:
    names = [m.id for m in api.models.list().data]
    assert model.client.model_id in names
    return names[-1]  # the short name, without the @digest


def test_completion_equals_the_python_api(api: openai.OpenAI, model: RemoteModel, model_name: str) -> None:
    reply = api.completions.create(model=model_name, prompt=PROMPT, max_tokens=12, temperature=0)
    expected = model.generate(PROMPT, max_new_tokens=12, temperature=0)
    assert reply.choices[0].text == expected.text
    assert reply.choices[0].finish_reason == expected.finish_reason.value
    assert reply.usage.prompt_tokens == expected.prompt_tokens
    assert reply.usage.completion_tokens == len(expected.token_ids)


def test_streamed_completion_matches_the_whole_one(api: openai.OpenAI, model_name: str) -> None:
    whole = api.completions.create(model=model_name, prompt=PROMPT, max_tokens=12, temperature=0)
    chunks = list(api.completions.create(model=model_name, prompt=PROMPT, max_tokens=12, temperature=0,
                                         stream=True, stream_options={"include_usage": True}))
    text_chunks = [c for c in chunks if c.choices]
    assert len(text_chunks) > 2
    assert "".join(c.choices[0].text for c in text_chunks) == whole.choices[0].text
    assert text_chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_chat_streaming_and_not(api: openai.OpenAI, model: RemoteModel, model_name: str) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
    whole = api.chat.completions.create(model=model_name, messages=messages, max_tokens=10, temperature=0)
    expected = model.generate(messages, max_new_tokens=10, temperature=0)
    assert whole.choices[0].message.role == "assistant"
    assert whole.choices[0].message.content == expected.text
    chunks = list(api.chat.completions.create(model=model_name, messages=messages, max_tokens=10,
                                              temperature=0, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected.text
    assert chunks[-1].choices[0].finish_reason == expected.finish_reason.value


@pytest.mark.parametrize(
    "kwargs, param",
    [
        ({"n": 2}, "n"),
        ({"temperature": 3.5}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"presence_penalty": 1.0}, "presence_penalty"),
        ({"max_tokens": 10_000}, "max_tokens"),  # past the swarm's max length
    ],
)
def test_bad_requests_get_400_with_a_message(api: openai.OpenAI, model_name: str, kwargs: dict, param: str
                                             ) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        api.completions.create(model=model_name, prompt=PROMPT, **{"max_tokens": 4, **kwargs})
    error = info.value.body
    assert info.value.status_code == 400
    assert error["message"] and error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_unknown_model_is_404(api: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        api.completions.create(model="gpt-9", prompt=PROMPT, max_tokens=4)
    assert "gpt-9" in info.value.body["message"]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", json.dumps({"model": "x"}).encode()])
def test_malformed_bodies_get_400(base_url: str, body: bytes) -> None:
    request = urllib.request.Request(f"{base_url}/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 400
    assert json.loads(info.value.read())["error"]["message"]


def test_empty_messages_get_400(api: openai.OpenAI, model_name: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        api.chat.completions.create(model=model_name, messages=[], max_tokens=4)
    assert info.value.body["param"] == "messages"




def test_serve_command_answers_the_openai_client(
    swarm: LocalSwarm, tiny_model: Path, model: RemoteModel, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port free right now (racy, but only this test binds it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = spawn(["serve", "--model", str(tiny_model), "--initial-peers", *swarm.initial_peers,
                  "--port", str(port)], tmp_path / "serve.log")
    try:
        api = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        deadline = time.monotonic() + 60
        while True:
            try:
                names = [m.id for m in api.models.list().data]
                break
            except openai.APIConnectionError:
                assert proc.alive() and time.monotonic() < deadline, proc.tail()
                time.sleep(0.5)
        reply = api.chat.completions.create(model=names[0], messages=[{"role": "user", "content": "Hi"}],
                                            max_tokens=8, temperature=0)
        expected = model.generate([{"role": "user", "content": "Hi"}], max_new_tokens=8, temperature=0)
        assert reply.choices[0].message.content == expected.text
    finally:
        proc.stop()
    assert proc.popen.returncode is not None
