"""An OpenAI-compatible HTTP server in front of a swarm client (aiohttp).

``GET /v1/models``, ``POST /v1/completions`` and ``POST /v1/chat/completions``, streamed as
server-sent events or answered whole. Every request goes through the client's JFFC dispatcher,
so concurrent requests queue FIFO for the fastest free chain. Errors use OpenAI's body
(``{"error": {"message", "type", "param", "code"}}``): 400 for a bad request, 404 for an unknown
model, 503 when the swarm cannot serve, 500 for a bug.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any

from aiohttp import web

from chainswarm.api.schemas import ApiError, ChatCompletionRequest, CompletionRequest, parse
from chainswarm.routing.client import SwarmClient
from chainswarm.routing.generation import Completion, PromptTooLong
from chainswarm.routing.sampling import SamplingParams
from chainswarm.routing.session import ChainUnavailable

logger = logging.getLogger(__name__)

DEFAULT_COMPLETION_TOKENS = 16
"""OpenAI's default ``max_tokens`` for /v1/completions; chat defaults to the rest of the context."""

CLIENT_KEY = web.AppKey("client", SwarmClient)


def create_app(client: SwarmClient) -> web.Application:
    """The server's routes over ``client`` (which the caller starts and closes)."""
    app = web.Application(middlewares=[_errors])
    app[CLIENT_KEY] = client
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/v1/completions", _completions)
    app.router.add_post("/v1/chat/completions", _chat_completions)
    return app


def served_names(client: SwarmClient) -> list[str]:
    """The model id, and its name without the ``@digest`` suffix, both accepted as ``model``."""
    model_id = client.model_id
    short = model_id.split("@", 1)[0]
    return [model_id] if short == model_id else [model_id, short]


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        return web.json_response(e.body(), status=e.status)
    except web.HTTPException as e:
        return web.json_response(ApiError(e.status, e.reason).body(), status=e.status)
    except Exception as e:
        error = _as_api_error(e)
        if error.status == 500:
            logger.exception("request failed")
        elif error.status > 500:
            logger.warning("request failed: %s", e)
        return web.json_response(error.body(), status=error.status)


def _as_api_error(e: Exception) -> ApiError:
    if isinstance(e, ApiError):
        return e
    if isinstance(e, PromptTooLong):
        return ApiError(400, str(e), param="max_tokens", code="context_length_exceeded")
    if isinstance(e, ValueError):
        return ApiError(400, str(e))
    if isinstance(e, ChainUnavailable):
        return ApiError(503, str(e), kind="service_unavailable")
    return ApiError(500, f"internal error: {type(e).__name__}: {e}", kind="server_error")


async def _models(request: web.Request) -> web.Response:
    client = request.app[CLIENT_KEY]
    created = int(time.time())
    data = [{"id": name, "object": "model", "created": created, "owned_by": "chainswarm"}
            for name in served_names(client)]
    return web.json_response({"object": "list", "data": data})


async def _completions(request: web.Request) -> web.StreamResponse:
    client = request.app[CLIENT_KEY]
    req = parse(CompletionRequest, await _json(request))
    _check_model(client, req.model)
    ids = client.generator.encode(req.prompt, chat=False)
    return await _generate(request, req, ids, req.sampling(DEFAULT_COMPLETION_TOKENS), _TextFormat(req.model))


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    client = request.app[CLIENT_KEY]
    req = parse(ChatCompletionRequest, await _json(request))
    _check_model(client, req.model)
    ids = client.generator.encode(req.chat_messages())
    spec = client.router.spec
    rest = spec.max_length - len(ids) if spec is not None else DEFAULT_COMPLETION_TOKENS
    return await _generate(request, req, ids, req.sampling(max(rest, 1)), _ChatFormat(req.model))


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ApiError(400, f"the request body is not valid JSON: {e}") from None


def _check_model(client: SwarmClient, model: str) -> None:
    names = served_names(client)
    if model not in names:
        raise ApiError(404, f"model {model!r} is not served here; use one of {names}", param="model",
                       code="model_not_found")


async def _generate(request: web.Request, req: Any, ids: list[int], params: SamplingParams, fmt: Any
                    ) -> web.StreamResponse:
    client = request.app[CLIENT_KEY]
    client.generator.check_length(len(ids), params)
    if not req.stream:
        completion = None
        async with aclosing(client.generator.stream(ids, params)) as deltas:
            async for delta in deltas:
                completion = delta.completion or completion
        assert completion is not None, "a generation stream always ends with a completion"
        return web.json_response(fmt.whole(completion))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    try:
        async with aclosing(client.generator.stream(ids, params)) as deltas:
            async for delta in deltas:
                if delta.text:
                    await _send(response, fmt.chunk(delta.text, None))
                if delta.completion is not None:
                    await _send(response, fmt.chunk("", delta.completion.finish_reason.value))
                    if req.include_usage:
                        await _send(response, fmt.usage_chunk(delta.completion))
    except (ConnectionResetError, ConnectionError):
        logger.info("client went away mid-stream; generation stopped")
        return response
    except Exception as e:
        error = _as_api_error(e)
        await _send(response, error.body())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _send(response: web.StreamResponse, payload: dict[str, Any]) -> None:
    await response.write(f"data: {json.dumps(payload)}\n\n".encode())


def _usage(completion: Completion) -> dict[str, int]:
    completion_tokens = len(completion.token_ids)
    return {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": completion.prompt_tokens + completion_tokens}


class _TextFormat:
    """Bodies of /v1/completions."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = f"cmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def _head(self) -> dict[str, Any]:
        return {"id": self.id, "object": "text_completion", "created": self.created, "model": self.model}

    def whole(self, completion: Completion) -> dict[str, Any]:
        choice = {"index": 0, "text": completion.text, "finish_reason": completion.finish_reason.value,
                  "logprobs": None}
        return {**self._head(), "choices": [choice], "usage": _usage(completion)}

    def chunk(self, text: str, finish_reason: str | None) -> dict[str, Any]:
        return {**self._head(), "choices": [{"index": 0, "text": text, "finish_reason": finish_reason,
                                             "logprobs": None}]}

    def usage_chunk(self, completion: Completion) -> dict[str, Any]:
        return {**self._head(), "choices": [], "usage": _usage(completion)}


class _ChatFormat(_TextFormat):
    """Bodies of /v1/chat/completions; the first streamed chunk carries the role."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self._sent_role = False

    def _head(self) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model}

    def whole(self, completion: Completion) -> dict[str, Any]:
        choice = {"index": 0, "message": {"role": "assistant", "content": completion.text},
                  "finish_reason": completion.finish_reason.value, "logprobs": None}
        return {**self._head(), "object": "chat.completion", "choices": [choice], "usage": _usage(completion)}

    def chunk(self, text: str, finish_reason: str | None) -> dict[str, Any]:
        delta: dict[str, str] = {} if finish_reason else {"content": text}
        if not self._sent_role:
            delta["role"] = "assistant"
            self._sent_role = True
        return {**self._head(), "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason,
                                             "logprobs": None}]}
