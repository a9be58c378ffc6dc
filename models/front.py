"""The client's local part of a model: token embeddings, final norm and LM head, plus the tokenizer.

The swarm computes the decoder blocks; the client turns token ids into the first block's input
(`embed`) and the last block's output into next-token logits (`logits`). Weights come from the
same source as the nodes' (safetensors directory or GGUF file); a tied LM head shares the
embedding matrix, as in Hugging Face.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from .family import family_of
from .spec import ModelError, ModelInfo, SourceKind
from .weights import open_weights

_EMBED, _NORM, _HEAD = "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"


class ModelFront(nn.Module):
    """Embeddings, final RMSNorm and LM head of one model, on one device and dtype."""

    def __init__(self, info: ModelInfo, embed: nn.Embedding, norm: nn.Module, lm_head_weight: torch.Tensor):
        super().__init__()
        self.info = info
        self.embed_tokens = embed
        self.norm = norm
        self.lm_head_weight = lm_head_weight  # the embedding's own Parameter when tied

    @classmethod
    def load(
        cls, info: ModelInfo, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
    ) -> ModelFront:
        """Read only the embedding, final norm and (untied) LM head tensors."""
        config = info.config
        source = open_weights(info)
        tied = bool(config.tie_word_embeddings)
        if not tied and _HEAD not in source.names:
            raise ModelError(
                f"{info.path} has tie_word_embeddings=False but no {_HEAD}; the files are incomplete"
            )
        tensors = source.read([_EMBED, _NORM] + ([] if tied else [_HEAD]))
        embed = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id, device="meta")
        embed.load_state_dict({"weight": tensors[_EMBED]}, assign=True)
        with torch.device("meta"):
            norm = family_of(config).norm_cls(config.hidden_size, eps=config.rms_norm_eps)
        norm.load_state_dict({"weight": tensors[_NORM]}, assign=True)
        embed = embed.to(device=device, dtype=dtype)
        head = embed.weight if tied else nn.Parameter(tensors[_HEAD].to(device=device, dtype=dtype))
        front = cls(info, embed, norm.to(device=device, dtype=dtype), head)
        return front.eval().requires_grad_(False)

    @property
    def dtype(self) -> torch.dtype:
        return self.embed_tokens.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.embed_tokens.weight.device

    @torch.inference_mode()
    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> (B, T, hidden): the input of block 0."""
        return self.embed_tokens(input_ids.to(self.device))

    @torch.inference_mode()
    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, T, hidden) output of the last block -> (B, T, vocab) logits (final norm, then LM head)."""
        hidden = hidden.to(device=self.device, dtype=self.dtype)
        return nn.functional.linear(self.norm(hidden), self.lm_head_weight)


def load_tokenizer(info: ModelInfo) -> PreTrainedTokenizerBase:
    """The model's tokenizer, offline: from the directory, or built from the GGUF's own vocabulary.

    GGUF files carry the vocabulary, merges, special tokens and chat template. AutoTokenizer would
    also parse the whole file with `gguf.GGUFReader` just to learn the model type (about 10 s for
    SmolLM2); the fast-tokenizer class it ends up with reads only the tokenizer fields (0.5 s) and
    gives the same tokenizer.
    """
    try:
        if info.kind is SourceKind.GGUF:
            return PreTrainedTokenizerFast.from_pretrained(
                str(info.path.parent), gguf_file=info.path.name, local_files_only=True
            )
        return AutoTokenizer.from_pretrained(str(info.path), local_files_only=True)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load a tokenizer for {info.path}: {e}") from e
