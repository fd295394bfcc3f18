"""Shapley values of a set function from few evaluations: Leverage SHAP, and exact enumeration.

KernelSHAP writes the Shapley values of ``v`` on ``n`` players as the solution of a
weighted least-squares problem over all coalitions ``z`` in {0, 1}^n, constrained so
that the values add up to ``v(1) - v(0)`` [1]_; shap's ``KernelExplainer`` samples
coalitions with probability proportional to the Shapley kernel and pairs each with
its complement. **Leverage SHAP** [2]_ samples them instead in proportion to their
*leverage scores* in that regression, which are the same for every coalition *size*:
each size ``s = 1 .. n-1`` gets the same share of the budget. Musco and Witter prove
that this gives a ``(1 + eps)`` approximation with ``O(n log n + n / eps)`` samples and
measure about half the error of ``KernelExplainer`` at equal budget.

This module implements it batch-first on Python 3.11 (shapiq's ``LeverageSHAP``
[3]_ needs Python >= 3.12), following the paper and the authors' reference code
[4]_ with two choices of ours, both unbiased:

* **Paired, stratified, without replacement.** Coalitions come in (set, complement)
  pairs. The pairs of one size ``s <= n/2`` form a stratum; its share of the budget
  (by leverage, capped at the number of distinct pairs: small strata are enumerated)
  is drawn without replacement and rounded systematically, so the number of model
  evaluations is exactly the budget. A row's regression weight is its Shapley kernel
  weight over its inclusion probability (the paper's Bernoulli sampling uses the same
  weights with a random count).
* **Split-half error estimate.** The sampled pairs of every stratum are dealt into two
  halves; each half (plus the enumerated strata) is itself an unbiased estimate at half
  the budget. Their difference estimates the map's run-to-run error at no extra model
  evaluation (:attr:`ShapleyEstimate.halves`).

The additivity constraint is solved in the orthogonal complement of the all-ones
vector, so the values sum to ``v(1) - v(0)`` up to rounding (then exactly, after a
final correction of the last ulp).

References
----------
.. [1] Lundberg and Lee, "A Unified Approach to Interpreting Model Predictions",
   NeurIPS 2017.
.. [2] Musco and Witter, "Provably Accurate Shapley Value Estimation via Leverage
   Score Sampling", ICLR 2025, arXiv:2410.01917.
.. [3] Muschalik et al., "shapiq: Shapley Interactions for Machine Learning",
   NeurIPS 2024 (``shapiq.approximator.regression``).
.. [4] https://github.com/rtealwitter/leverageshap (``estimators/regression.py``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Largest player count :func:`exact_shapley` enumerates (2**16 evaluations).
MAX_EXACT_PLAYERS = 16

#: A stratum is listed, then subsampled, when it has at most this many times the pairs
#: drawn from it; otherwise they are drawn by rejecting duplicates (cheap, as they are
#: rare), which avoids listing e.g. the 161,700 triples of 100 superpixels.
_LIST_RATIO = 4

ValueFunction = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ShapleyEstimate:
    """Estimated Shapley values of one value function.

    Attributes
    ----------
    values : ndarray, float64, (n,)
        The estimate; sums to ``f_x - base_value``.
    base_value, f_x : float
        ``v(all absent)`` and ``v(all present)``.
    n_evaluations : int
        Coalitions evaluated besides the two above.
    halves : ndarray, float64, (2, n)
        Two independent estimates from the two halves of the sampled pairs (each
        sums to ``f_x - base_value`` too); equal to ``values`` when every coalition
        was enumerated.
    """

    values: np.ndarray
    base_value: float
    f_x: float
    n_evaluations: int
    halves: np.ndarray

    @property
    def estimated_error(self) -> float:
        """RMS error per player of :attr:`values`, estimated from the halves.

        Each half has twice the variance of the full estimate, their difference
        four times it; hence half the RMS difference.
        """
        if self.values.size == 0:
            return 0.0
        return float(np.sqrt(np.mean((self.halves[0] - self.halves[1]) ** 2)) / 2.0)


def shapley_kernel(n_players: int, sizes: np.ndarray) -> np.ndarray:
    """The Shapley kernel weight ``(n-1) / (C(n, s) s (n-s))`` of a coalition of each size."""
    sizes = np.asarray(sizes, dtype=np.float64)
    n = float(n_players)
    binom = np.array([math.comb(n_players, int(s)) for s in sizes.ravel()], dtype=np.float64)
    return ((n - 1.0) / (binom.reshape(sizes.shape) * sizes * (n - sizes))).astype(np.float64)


def _values_of(value_fn: ValueFunction, z: np.ndarray) -> np.ndarray:
    out = np.asarray(value_fn(z), dtype=np.float64)
    if out.shape not in ((len(z),), (len(z), 1)):
        raise ValueError(f"the value function returned shape {out.shape} for {len(z)} "
                         f"coalitions; expected ({len(z)},) or ({len(z)}, 1)")
    return out.reshape(-1)


def exact_shapley(value_fn: ValueFunction, n_players: int) -> np.ndarray:
    """Exact Shapley values by enumerating all ``2**n`` coalitions (one batched call).

    Parameters
    ----------
    value_fn : callable
        Boolean coalitions ``(k, n)`` -> values ``(k,)`` or ``(k, 1)``.
    n_players : int
        At most :data:`MAX_EXACT_PLAYERS`.

    Returns
    -------
    ndarray, float64, (n,)
    """
    n = _check_players(n_players)
    if n > MAX_EXACT_PLAYERS:
        raise ValueError(f"exact enumeration is limited to {MAX_EXACT_PLAYERS} players, "
                         f"got {n}")
    codes = np.arange(2**n)
    z = ((codes[:, None] >> np.arange(n)) & 1).astype(bool)
    v = _values_of(value_fn, z)
    sizes = z.sum(axis=1)
    # Weight of "i joins a coalition S of size s without i": s! (n-s-1)! / n!
    joins = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
                      for s in range(n)])
    phi = np.empty(n)
    for i in range(n):
        without = ~z[:, i]
        with_i = codes[without] | (1 << i)
        phi[i] = np.sum(joins[sizes[without]] * (v[with_i] - v[without]))
    return phi


def _check_players(n_players: int) -> int:
    if isinstance(n_players, bool) or int(n_players) != n_players or n_players < 0:
        raise ValueError(f"n_players must be an integer >= 0, got {n_players!r}")
    return int(n_players)


@dataclass(frozen=True)
class _Design:
    """Sampled coalitions (rows) with regression weights for the full set and each half."""

    z: np.ndarray  # (k, n) bool
    weights: np.ndarray  # (k,)
    half_weights: np.ndarray  # (2, k)


def _stratum_sizes(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair strata s = 1 .. n//2: their size, number of distinct pairs, leverage share."""
    sizes = np.arange(1, n // 2 + 1)
    pairs = np.array([math.comb(n, int(s)) for s in sizes], dtype=np.float64)
    share = np.ones(len(sizes))
    if n % 2 == 0:  # the middle size pairs with itself: half as many pairs, one size
        pairs[-1] /= 2
        share[-1] = 0.5
    return sizes, pairs, share


def _allocate(total: int, caps: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Expected pairs per stratum: ``total`` split by ``share``, capped (water-filling)."""
    alloc = np.zeros(len(caps))
    active = np.ones(len(caps), dtype=bool)
    remaining = float(total)
    while active.any() and remaining > 0:
        want = remaining * share * active / share[active].sum()
        full = active & (want >= caps)
        if not full.any():
            alloc[active] = want[active]
            break
        alloc[full] = caps[full]
        remaining -= caps[full].sum()
        active &= ~full
    return alloc


def _systematic_round(expected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integer counts with ``E[count] = expected``, each floor or ceil, summing to the total."""
    cum = np.concatenate([[0.0], np.cumsum(expected)])
    u = rng.uniform()
    counts = np.diff(np.floor(cum - u + 1.0 + 1e-9))
    return np.maximum(counts, 0).astype(np.int64)


def _subsets(n: int, s: int, count: int, n_pairs: int, middle: bool,
             rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct first members of pairs of size ``s``, as a bool matrix."""
    # The middle stratum's pairs are represented by their member holding player n-1.
    pool, take = (n - 1, s - 1) if middle else (n, s)
    if n_pairs <= _LIST_RATIO * count:
        combos = np.array(list(itertools.combinations(range(pool), take)), dtype=np.intp)
        combos = combos.reshape(len(combos), take)
        if count < n_pairs:
            combos = combos[np.sort(rng.choice(len(combos), size=count, replace=False))]
        rows = np.zeros((len(combos), n), dtype=bool)
        np.put_along_axis(rows, combos, True, axis=1)
    else:
        found: dict[bytes, np.ndarray] = {}
        while len(found) < count:
            order = np.argsort(rng.uniform(size=(2 * (count - len(found)), pool)), axis=1)
            rows = np.zeros((len(order), n), dtype=bool)
            np.put_along_axis(rows, order[:, :take], True, axis=1)
            for row in rows:
                found.setdefault(np.packbits(row).tobytes(), row)
                if len(found) == count:
                    break
        rows = np.stack(list(found.values()))
    if middle:
        rows[:, n - 1] = True
    return rows


def leverage_design(n_players: int, budget: int, *, rng: np.random.Generator) -> _Design:
    """Paired leverage-score coalitions for ``budget`` evaluations, with their weights.

    Uses ``2 * (budget // 2)`` rows (every coalition once, besides the empty and the
    full one, if that is fewer). Sampled pairs alternate between the two halves.
    """
    n = _check_players(n_players)
    if n < 2:
        return _Design(np.zeros((0, n), bool), np.zeros(0), np.zeros((2, 0)))
    sizes, caps, share = _stratum_sizes(n)
    expected = _allocate(int(budget) // 2, caps, share)
    enumerated = expected >= caps
    counts = np.where(enumerated, caps, 0).astype(np.int64)
    sampled = ~enumerated
    counts[sampled] = _systematic_round(expected[sampled], rng)
    blocks, weights, halves = [], [], []
    for s, cap, exp_s, k, full in zip(sizes, caps, expected, counts, enumerated, strict=True):
        if k == 0:
            continue
        middle = n % 2 == 0 and s == n // 2
        first = _subsets(n, int(s), int(k), int(cap), middle, rng)
        inclusion = exp_s / cap  # each pair's probability of being drawn
        w = shapley_kernel(n, np.array([s]))[0] / inclusion  # w(s) = w(n - s)
        if full:
            half = np.ones((2, k))
        else:  # alternate; each half is a draw of about k/2 pairs, so weights double
            in_a = np.arange(k) % 2 == 0
            half = np.stack([in_a, ~in_a]).astype(np.float64) * 2.0
        blocks += [first, ~first]
        weights += [np.full(k, w)] * 2
        halves += [half, half]
    z = np.concatenate(blocks)
    return _Design(z, np.concatenate(weights), np.concatenate(halves, axis=1))


def constrained_regression(
    z: np.ndarray, y: np.ndarray, weights: np.ndarray, *, base_value: float, f_x: float
) -> np.ndarray:
    """Weighted least squares ``v(z) - v(0) ~ z . phi`` subject to ``sum(phi) = v(1) - v(0)``.

    Solved in the orthogonal complement of the all-ones vector, so the constraint
    holds by construction; a last correction spreads the rounding residue.

    Parameters
    ----------
    z : ndarray of bool, (k, n)
    y : ndarray, (k,)
        ``v(z)`` per row.
    weights : ndarray, (k,)
        Non-negative row weights (rows of weight zero are ignored).
    base_value, f_x : float
        ``v(0)`` and ``v(1)``.

    Returns
    -------
    ndarray, float64, (n,)
    """
    z = np.asarray(z, dtype=np.float64)
    n = z.shape[1]
    gap = float(f_x) - float(base_value)
    if n == 0:
        return np.zeros(0)
    if n == 1:
        return np.array([gap])
    keep = np.asarray(weights) > 0
    z, y, w = z[keep], np.asarray(y, np.float64)[keep], np.asarray(weights, np.float64)[keep]
    # Orthonormal basis of {x : sum(x) = 0}: the last n-1 columns of a QR of [1 | I].
    q = np.linalg.qr(np.column_stack([np.ones(n), np.eye(n)[:, : n - 1]]))[0][:, 1:]
    target = y - float(base_value) - z.sum(axis=1) * gap / n
    root = np.sqrt(w)[:, None]
    u = np.linalg.lstsq(root * (z @ q), root[:, 0] * target, rcond=None)[0]
    phi = gap / n + q @ u
    return phi + (gap - phi.sum()) / n


def leverage_shap(
    value_fn: ValueFunction, n_players: int, *, budget: int, rng: np.random.Generator
) -> ShapleyEstimate:
    """Leverage SHAP estimate of the Shapley values of ``value_fn``.

    Parameters
    ----------
    value_fn : callable
        Boolean coalitions ``(k, n)`` -> values ``(k,)`` or ``(k, 1)``. It is called
        once with the empty and the full coalition, then once with all sampled
        coalitions (batch it inside, e.g. :class:`~dermviz.explain.kernelshap.CoalitionPredictor`).
    n_players : int
    budget : int
        Coalitions to evaluate besides the empty and the full one (as shap's
        ``nsamples``); rounded down to an even number, capped at ``2**n - 2``, where
        the estimate is exact.
    rng : numpy.random.Generator

    Returns
    -------
    ShapleyEstimate

    References
    ----------
    .. [1] Musco and Witter, "Provably Accurate Shapley Value Estimation via Leverage
       Score Sampling", ICLR 2025, arXiv:2410.01917.
    """
    n = _check_players(n_players)
    if isinstance(budget, bool) or int(budget) != budget or budget < 0:
        raise ValueError(f"budget must be an integer >= 0, got {budget!r}")
    if n >= 2 and budget < 2:
        raise ValueError(f"budget must be >= 2 for {n} players (one pair), got {budget}")
    ends = _values_of(value_fn, np.stack([np.zeros(n, bool), np.ones(n, bool)]))
    base, fx = float(ends[0]), float(ends[1])
    design = leverage_design(n, int(budget), rng=rng)
    y = _values_of(value_fn, design.z) if len(design.z) else np.zeros(0)

    def solve(weights: np.ndarray) -> np.ndarray:
        return constrained_regression(design.z, y, weights, base_value=base, f_x=fx)

    values = solve(design.weights)
    halves = np.stack([solve(design.weights * h) for h in design.half_weights])
    return ShapleyEstimate(values=values, base_value=base, f_x=fx,
                           n_evaluations=len(design.z), halves=halves)
