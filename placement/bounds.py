"""Bounds on JFFC's mean response time (paper §3.4, Theorem 4, Eq.16–18).

The number of jobs in the system is bounded by two birth–death chains with birth rate λ and
death rate ν̄_n (the n jobs on the fastest chains: lower bound) or ν̲_n (on the slowest: upper
bound); for n ≥ C = Σ_k c_k both equal ν = Σ_k c_k·μ_k, giving a geometric tail with ratio ρ = λ/ν.
Mean response time = E[N]/λ (Little's law).

The stationary weights Π_{i≤n} λ/ν_i over- or underflow for capacities in the hundreds, so they
are summed in log space (log-sum-exp) and only normalized ratios are exponentiated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .specs import Chain


def _death_rates(rates: np.ndarray, capacities: np.ndarray) -> np.ndarray:
    """Total service rate with n = 1..C jobs filling the chains in the given order: the first
    c_1 jobs at μ_1 each, the next c_2 at μ_2, ... (ν̄_n or ν̲_n depending on the order)."""
    per_job = np.repeat(rates, capacities)
    return np.cumsum(per_job)


def _mean_response(arrival_rate: float, rates: np.ndarray, capacities: np.ndarray) -> float:
    """Eq.16–18 divided by λ: E[N]/λ for the birth–death chain whose death rates fill chains in
    this order. The division by λ happens in log space, so tiny λ keeps full precision."""
    total_rate = float(np.dot(rates, capacities))
    slots = int(capacities.sum())
    rho = arrival_rate / total_rate
    log_rate = math.log(arrival_rate)
    # log of λ^n / Π_{i≤n} ν_i for n = 0..C
    log_weights = np.concatenate(([0.0], np.cumsum(log_rate - np.log(_death_rates(rates, capacities)))))
    # Eq.16's normalizer: Σ_{n<C} w_n + w_C·ν/(ν−λ) (the geometric tail)
    log_terms = np.concatenate((log_weights[:-1], [log_weights[-1] - math.log1p(-rho)]))
    shift = float(log_terms.max())
    log_norm = shift + math.log(float(np.exp(log_terms - shift).sum()))
    phi_per_rate = np.exp(log_weights[1:] - log_norm - log_rate)  # φ_n / λ for n = 1..C
    head = float(np.dot(np.arange(1, slots), phi_per_rate[:-1]))
    tail = float(phi_per_rate[-1]) * (rho / (1.0 - rho) ** 2 + slots / (1.0 - rho))
    return head + tail


def response_time_bounds(chains: Sequence[Chain], arrival_rate: float) -> tuple[float, float]:
    """(lower, upper) bound in seconds on JFFC's mean response time at Poisson rate λ =
    ``arrival_rate`` (jobs/s) with Exp service at μ_k = 1/T_k on ``chains`` (Theorem 4).

    (inf, inf) when λ ≥ ν (unstable) or there is no capacity. At λ = 0 the limits as λ → 0:
    a lone job runs on the fastest chain (lower) or the slowest (upper).
    """
    if not arrival_rate >= 0:
        raise ValueError(f"arrival_rate must be >= 0, got {arrival_rate}")
    used = [k for k in chains if k.capacity > 0]
    if any(not 0 <= k.service_time < math.inf for k in used):
        raise ValueError("every chain with capacity needs a finite service_time >= 0")
    if not used:
        return math.inf, math.inf
    used.sort(key=lambda k: k.service_time)  # μ descending; stable for equal rates
    rates = np.array([k.rate for k in used])  # a zero-time chain serves at infinite rate
    capacities = np.array([k.capacity for k in used], dtype=np.int64)
    if arrival_rate == 0:
        return float(1.0 / rates[0]), float(1.0 / rates[-1])
    if arrival_rate >= float(np.dot(rates, capacities)):
        return math.inf, math.inf
    lower = _mean_response(arrival_rate, rates, capacities)
    upper = _mean_response(arrival_rate, rates[::-1], capacities[::-1])
    return lower, upper
