"""Text generation over the swarm: the client runs embeddings and the LM head, the chain the blocks.

One request = one session on one chain: the prompt's hidden states go through the chain in one
step (prefill), then one step per generated token, exactly as Hugging Face's ``generate`` runs a
model with a KV cache, so greedy output matches it token for token. Text is streamed as it
becomes final (see ``text.TextStream``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import torch
from transformers import PreTrainedTokenizerBase

from chainswarm.models.front import ModelFront
from chainswarm.routing.hop import Hop
from chainswarm.routing.router import SwarmRouter
from chainswarm.routing.sampling import Sampler, SamplingParams
from chainswarm.routing.text import TextStream

Message = dict[str, str]
"""A chat message: ``{"role": "user" | "assistant" | "system", "content": ...}``."""


class FinishReason(StrEnum):
    """Why a generation ended, with OpenAI's names."""

    STOP = "stop"  # end-of-sequence token or a stop string
    LENGTH = "length"  # max_new_tokens reached


@dataclass(frozen=True)
class Completion:
    """A finished generation; ``str(completion)`` is its text."""

    text: str
    token_ids: list[int]
    finish_reason: FinishReason
    prompt_tokens: int
    route: list[Hop] = field(default_factory=list)  # the hops that served it (after any failover)
    failovers: int = 0

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Delta:
    """A piece of streamed text; the last one of a stream carries the ``completion``."""

    text: str
    completion: Completion | None = None


class PromptTooLong(ValueError):
    """The prompt plus the tokens to generate exceed the swarm's maximum sequence length."""


class Generator:
    """Tokenizes, runs the front locally and the blocks on the swarm. Use from the router's loop."""

    def __init__(self, front: ModelFront, tokenizer: PreTrainedTokenizerBase, router: SwarmRouter) -> None:
        self.front = front
        self.tokenizer = tokenizer
        self.router = router
        self.eos_token_ids = _eos_ids(front, tokenizer)

    def encode(self, prompt: str | Sequence[Message], chat: bool | None = None) -> list[int]:
        """Token ids of a prompt. Messages always go through the chat template; a string does when
        ``chat`` is True (as one user message), and is tokenized as is otherwise."""
        if isinstance(prompt, str) and not chat:
            return list(self.tokenizer(prompt)["input_ids"])
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        if self.tokenizer.chat_template is None:
            raise ValueError(f"{self.front.info.path} has no chat template; send a plain prompt instead")
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def check_length(self, prompt_tokens: int, params: SamplingParams) -> int:
        """The session length this request needs; raises PromptTooLong if the swarm cannot hold it."""
        spec = self.router.spec
        needed = prompt_tokens + params.max_new_tokens
        if spec is not None and needed > spec.max_length:
            raise PromptTooLong(
                f"the prompt ({prompt_tokens} tokens) plus max_new_tokens ({params.max_new_tokens}) is "
                f"{needed} tokens; this swarm holds at most {spec.max_length}"
            )
        return needed

    async def stream(self, prompt_ids: Sequence[int], params: SamplingParams) -> AsyncIterator[Delta]:
        """Generate from ``prompt_ids``, yielding text as it becomes final; the last Delta is complete."""
        if not prompt_ids:
            raise ValueError("the prompt is empty")
        max_length = self.check_length(len(prompt_ids), params)
        sampler = Sampler(params)
        text = TextStream(self.tokenizer, params.stop)
        pieces: list[str] = []
        finish = FinishReason.LENGTH
        async with self.router.session(max_length) as session:
            hidden = await session.step(self._embed(list(prompt_ids)))
            for count in range(1, params.max_new_tokens + 1):
                token = sampler(await asyncio.to_thread(self._last_logits, hidden))
                piece = text.push(token)
                if piece:
                    pieces.append(piece)
                    yield Delta(piece)
                if token in self.eos_token_ids or text.stopped:
                    finish = FinishReason.STOP
                    break
                if count < params.max_new_tokens:
                    hidden = await session.step(self._embed([token]))
            route, failovers = session.hops, session.failovers
        tail = text.finish()
        completion = Completion(
            text="".join(pieces) + tail, token_ids=text.token_ids, finish_reason=finish,
            prompt_tokens=len(prompt_ids), route=route, failovers=failovers,
        )
        yield Delta(tail, completion)

    def _embed(self, ids: list[int]) -> torch.Tensor:
        return self.front.embed(torch.tensor([ids]))

    def _last_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.front.logits(hidden[:, -1:])[0, -1]


def _eos_ids(front: ModelFront, tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    """End-of-sequence ids from the model config and the tokenizer (some list several)."""
    ids: set[int] = set()
    for source in (front.info.config.eos_token_id, tokenizer.eos_token_id):
        if isinstance(source, int):
            ids.add(source)
        elif isinstance(source, list | tuple):
            ids.update(int(i) for i in source)
    return frozenset(ids)
