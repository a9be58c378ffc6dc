"""Turning generated token ids into text as they arrive, with stop strings.

Tokens do not map to whole characters (a byte-level BPE token may hold half of a UTF-8 character)
and a stop string may span several tokens, so text is released only once it is final: the whole
generation is decoded again at each token, an incomplete character at the end is held back, and
so is any tail that could still grow into a stop string. The concatenation of everything
``push`` and ``finish`` return equals the decoded generation cut before the first stop string.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

_REPLACEMENT = "\ufffd"  # what a decoder emits for an incomplete UTF-8 sequence


class Decoder(Protocol):
    def decode(self, ids: Sequence[int], skip_special_tokens: bool = ...) -> str: ...


class TextStream:
    """Incremental detokenizer for one generation; ``stopped`` once a stop string appeared."""

    def __init__(self, tokenizer: Decoder, stop: Sequence[str] = ()) -> None:
        self._tokenizer = tokenizer
        self._stop = tuple(stop)
        self._ids: list[int] = []
        self._emitted = 0  # characters of the decoded text already returned
        self.stopped = False

    def push(self, token_id: int) -> str:
        """Add one token; returns the text that became final (possibly empty)."""
        if self.stopped:
            raise RuntimeError("push after a stop string ended the generation")
        self._ids.append(token_id)
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        cut = self._find_stop(text)
        if cut is not None:
            self.stopped = True
            return self._release(text, cut)
        end = len(text)
        if text.endswith(_REPLACEMENT):
            end = len(text.rstrip(_REPLACEMENT))
        end -= _longest_stop_prefix_suffix(text[:end], self._stop)
        return self._release(text, end)

    def finish(self) -> str:
        """The text held back, once no more tokens will come."""
        if self.stopped:
            return ""
        return self._release(self._tokenizer.decode(self._ids, skip_special_tokens=True), None)

    @property
    def token_ids(self) -> list[int]:
        return list(self._ids)

    def _find_stop(self, text: str) -> int | None:
        """Index of the earliest stop string in ``text``, searching only where new text could start one."""
        longest = max((len(s) for s in self._stop), default=0)
        start = max(0, self._emitted - longest + 1)
        hits = [i for s in self._stop if (i := text.find(s, start)) >= 0]
        return min(hits) if hits else None

    def _release(self, text: str, end: int | None) -> str:
        end = len(text) if end is None else end
        if end <= self._emitted:
            return ""
        out = text[self._emitted : end]
        self._emitted = end
        return out


def _longest_stop_prefix_suffix(text: str, stops: Sequence[str]) -> int:
    """Length of the longest tail of ``text`` that is a proper prefix of some stop string."""
    best = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:n]):
                best = n
                break
    return best
