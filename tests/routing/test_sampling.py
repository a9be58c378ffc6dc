import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from chainswarm.routing.sampling import Sampler, SamplingParams, filter_logits


def test_greedy_is_argmax() -> None:
    logits = torch.randn(100, generator=torch.Generator().manual_seed(1))
    assert Sampler(SamplingParams(temperature=0))(logits) == int(torch.argmax(logits))


def test_same_seed_same_tokens_and_different_seed_differs() -> None:
    logits = torch.zeros(1000)
    a = Sampler(SamplingParams(seed=7))
    b = Sampler(SamplingParams(seed=7))
    c = Sampler(SamplingParams(seed=8))
    seq_a = [a(logits) for _ in range(20)]
    assert seq_a == [b(logits) for _ in range(20)]
    assert seq_a != [c(logits) for _ in range(20)]


def test_top_k_keeps_only_the_k_largest() -> None:
    logits = torch.tensor([0.0, 5.0, 1.0, 4.0, 3.0])
    kept = filter_logits(logits, SamplingParams(top_k=2))
    assert torch.isfinite(kept).tolist() == [False, True, False, True, False]
    sampler = Sampler(SamplingParams(top_k=2, seed=0))
    assert {sampler(logits) for _ in range(200)} == {1, 3}


def test_top_p_keeps_smallest_set_reaching_p() -> None:
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    kept = filter_logits(probs.log(), SamplingParams(top_p=0.75))
    assert torch.isfinite(kept).tolist() == [True, True, False, False]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-20, 20), min_size=1, max_size=40),
    st.integers(0, 50),
    st.floats(0.01, 1.0),
)
def test_filters_always_leave_the_best_token(values: list[float], top_k: int, top_p: float) -> None:
    logits = torch.tensor(values)
    kept = filter_logits(logits, SamplingParams(top_k=top_k, top_p=top_p))
    assert kept.max() == logits.max()  # a most likely token survives (ties may lose one of them)
    assert torch.equal(kept[torch.isfinite(kept)], logits[torch.isfinite(kept)])


def test_low_temperature_concentrates_on_the_best_token() -> None:
    logits = torch.tensor([1.0, 2.0, 1.5])
    sampler = Sampler(SamplingParams(temperature=0.01, seed=0))
    assert {sampler(logits) for _ in range(50)} == {1}


@pytest.mark.parametrize(
    "kwargs", [{"max_new_tokens": 0}, {"temperature": -1}, {"top_p": 0}, {"top_k": -1}, {"stop": ("",)}]
)
def test_invalid_params_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SamplingParams(**kwargs)
