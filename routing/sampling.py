"""Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p.

The filters follow Hugging Face's logits processors (temperature, then top-k, then top-p keeping
at least one token), so a seeded run is reproducible and ``temperature == 0`` is exactly
``argmax`` — the same token Hugging Face's greedy ``generate`` picks.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens and when to stop.

    ``temperature`` 0 means greedy; ``top_k`` 0 and ``top_p`` 1 turn those filters off; ``seed``
    None draws a fresh seed per request. Generation ends at the model's end-of-sequence token, at
    the first ``stop`` string (which is not returned), or after ``max_new_tokens`` tokens.
    """

    max_new_tokens: int = 128
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if any(not s for s in self.stop):
            raise ValueError("stop strings must not be empty")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


class Sampler:
    """Picks tokens for one request; owns its random generator so requests never share state."""

    def __init__(self, params: SamplingParams) -> None:
        self.params = params
        seed = params.seed if params.seed is not None else random.SystemRandom().getrandbits(63)
        self._generator = torch.Generator().manual_seed(seed)

    def __call__(self, logits: torch.Tensor) -> int:
        """The next token id given the last position's logits, shape (vocab,)."""
        if self.params.greedy:
            return int(torch.argmax(logits))
        probs = torch.softmax(filter_logits(logits.float() / self.params.temperature, self.params), dim=-1)
        return int(torch.multinomial(probs, 1, generator=self._generator))


def filter_logits(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Logits with the tokens that top-k and top-p exclude set to -inf (shape (vocab,))."""
    out = logits.clone()
    if 0 < params.top_k < out.numel():
        kth = torch.topk(out, params.top_k).values[-1]
        out[out < kth] = -math.inf
    if params.top_p < 1:
        sorted_logits, order = torch.sort(out, descending=False)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        drop = cumulative <= 1 - params.top_p
        drop[-1] = False  # the most likely token always survives
        out[order[drop]] = -math.inf
    return out
