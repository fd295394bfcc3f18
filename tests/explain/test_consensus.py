"""The consensus of members' maps of one image (dermviz.explain.consensus)."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.explain.consensus import (
    degenerate_members,
    map_consensus,
    normalise_members,
    pairwise_agreement,
)

SIZE = 24


def _blob(cy: float, cx: float, sigma: float = 4.0) -> np.ndarray:
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    return np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma**2))


def test_identical_maps_agree_fully_whatever_their_scale():
    m = _blob(10, 12)
    c = map_consensus(np.stack([m, 3 * m, 0.5 * m]), signed=False, members=["a", "b", "c"])
    np.testing.assert_allclose(c.mean, m / m.max())
    np.testing.assert_allclose(c.spread, 0.0, atol=1e-12)
    np.testing.assert_allclose(c.disagreement, 0.0, atol=1e-12)
    assert list(c.pairs[["member_a", "member_b"]].itertuples(index=False, name=None)) == [
        ("a", "b"), ("a", "c"), ("b", "c")]
    assert c.mean_spearman == pytest.approx(1.0)
    assert c.mean_ssim == pytest.approx(1.0)
    assert c.summary()["disagreement_share"] == 0.0
    assert c.constant == ()


def test_members_looking_at_different_places_disagree_there():
    left, right = _blob(12, 5), _blob(12, 18)
    c = map_consensus(np.stack([left, right]), signed=False)
    # At each blob's peak one member says 1, the other about 0: spread ~ mean ~ 0.5.
    assert c.spread[12, 5] == pytest.approx(0.5, abs=0.01)
    assert c.disagreement[12, 5] > 0.8
    assert c.mean_spearman < 0.5 and c.mean_ssim < 0.5
    same = map_consensus(np.stack([left, left * 1.01]), signed=False)
    assert c.disagreement_share() > same.disagreement_share()


def test_signed_opposite_maps_cancel_in_the_mean_and_spread_widely():
    m = _blob(12, 12) - _blob(4, 4)
    c = map_consensus(np.stack([m, -2 * m]), signed=True)
    np.testing.assert_allclose(c.mean, 0.0, atol=1e-12)
    peak = np.unravel_index(np.abs(m).argmax(), m.shape)
    assert c.spread[peak] == pytest.approx(1.0)
    assert c.disagreement[peak] > 0.9
    assert c.mean_spearman == pytest.approx(-1.0)
    # The same maps as unsigned would be refused: they have negative values.
    with pytest.raises(ValueError, match="non-negative"):
        map_consensus(np.stack([m, -m]), signed=False)


def test_signed_normalisation_keeps_sign_and_zero_maps():
    m = _blob(12, 12) - 0.5
    out = normalise_members(np.stack([4 * m, np.zeros_like(m)]), signed=True)
    assert np.abs(out[0]).max() == pytest.approx(1.0)
    np.testing.assert_array_equal(np.sign(out[0]), np.sign(m))
    np.testing.assert_array_equal(out[1], 0.0)


def test_a_constant_map_has_no_spearman_and_is_named():
    m = _blob(12, 12)
    c = map_consensus(np.stack([m, m, np.zeros_like(m)]), signed=False,
                      members=["a", "b", "flat"])
    assert c.constant == ("flat",)
    rho = c.pairs.set_index(["member_a", "member_b"])["spearman"]
    assert rho[("a", "b")] == pytest.approx(1.0)
    assert np.isnan(rho[("a", "flat")]) and np.isnan(rho[("b", "flat")])
    assert c.mean_spearman == pytest.approx(1.0)  # over the defined pair only
    assert c.summary()["pairs_without_spearman"] == 2
    # The flat member still counts in the mean (it found no evidence).
    np.testing.assert_allclose(c.mean, 2 / 3 * m / m.max())


def test_spearman_matches_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(1)
    maps = rng.random((3, 10, 9))
    maps[1, :2] = 0.0  # ties
    table = pairwise_agreement(maps, signed=False)
    for row in table.itertuples():
        a, b = maps[int(row.member_a)].ravel(), maps[int(row.member_b)].ravel()
        assert row.spearman == pytest.approx(spearmanr(a, b).statistic, rel=1e-12)


@pytest.mark.parametrize(("maps", "kwargs", "match"), [
    (np.ones((SIZE, SIZE)), {}, "stack"),
    (np.ones((1, SIZE, SIZE)), {}, "at least 2"),
    (np.ones((2, 5, 5)), {}, "7x7"),
    (np.stack([np.ones((SIZE, SIZE)), np.full((SIZE, SIZE), np.nan)]), {}, r"positions \[1\]"),
    (np.ones((2, SIZE, SIZE)), {"members": ["a"]}, "2 maps"),
    (np.ones((2, SIZE, SIZE)), {"members": ["a", "a"]}, "unique"),
    (np.ones((2, SIZE, SIZE)), {"floor": 0.0}, "floor"),
])
def test_bad_input_is_refused_clearly(maps, kwargs, match):
    with pytest.raises(ValueError, match=match):
        map_consensus(maps, signed=False, **kwargs)


def test_skip_degenerate_leaves_flat_maps_out_and_says_so():
    m = _blob(12, 12)
    stack = np.stack([m, 0.5 * m, np.zeros_like(m), np.full_like(m, 0.3)])
    names = ["a", "b", "empty", "flat"]
    c = map_consensus(stack, signed=False, members=names, skip_degenerate=True)
    assert c.members == ("a", "b") and c.skipped == ("empty", "flat")
    assert c.constant == ()
    np.testing.assert_allclose(c.mean, m / m.max())  # the flat maps no longer dilute it
    summary = c.summary()
    assert summary["skipped"] == 2 and summary["pairs_without_spearman"] == 0
    assert not any(np.isnan(v) for v in summary.values())
    assert c.skipped_note == "2 members skipped (empty or constant map): empty, flat."
    # two members, one empty: the default gives a NaN mean Spearman (what the case page
    # showed); skipping refuses, naming the member, and degenerate_members says so first
    pair = np.stack([m, np.zeros_like(m)])
    assert np.isnan(map_consensus(pair, signed=False).summary()["mean_spearman"])
    assert degenerate_members(pair, members=["a", "m02"]) == ("m02",)
    with pytest.raises(ValueError, match="1 of 2 are empty or constant \\(m02\\)"):
        map_consensus(pair, signed=False, members=["a", "m02"], skip_degenerate=True)
    # the default keeps every member, and says nothing was skipped
    assert map_consensus(stack, signed=False).skipped == ()
    assert map_consensus(stack, signed=False).skipped_note == ""


def test_skip_degenerate_tolerance_applies_to_signed_maps():
    m = _blob(12, 12) - 0.5
    tiny = 1e-9 * m
    c = map_consensus(np.stack([m, -m, tiny]), signed=True, skip_degenerate=True)
    assert c.skipped == ("2",)
    c = map_consensus(np.stack([m, -m, tiny]), signed=True, skip_degenerate=True, atol=0.0)
    assert c.skipped == ()
