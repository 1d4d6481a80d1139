"""Bootstrap intervals: agreement with scikit-learn per replicate, known answers, warnings."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from krotos.stats import (
    interval_warnings,
    mean_interval,
    paired_difference,
    percentile_interval,
    resample_counts,
    tag_metric_intervals,
    unit_metric_intervals,
    weighted_average_precision,
    weighted_roc_auc,
)


def _sklearn(fn, y, s, weights):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array([fn(y, s, sample_weight=w) if 0 < w[y > 0].sum() and w[y == 0].sum() > 0
                         else np.nan for w in weights])


def test_resample_counts_are_multinomial_draws_of_every_unit():
    counts = resample_counts(50, n_resamples=200, seed=3)
    assert counts.shape == (200, 50) and counts.dtype.kind == "i"
    assert np.all(counts.sum(axis=1) == 50) and counts.min() >= 0
    np.testing.assert_array_equal(counts, resample_counts(50, n_resamples=200, seed=3))
    assert not np.array_equal(counts, resample_counts(50, n_resamples=200, seed=4))
    # About 1 - 1/e of the units are drawn at least once.
    assert 0.55 < (counts > 0).mean() < 0.70
    assert resample_counts(0, 5).shape == (5, 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_auc_and_ap_agree_with_sklearn_on_every_replicate(seed):
    rng = np.random.default_rng(seed)
    n = 40
    y = (rng.random(n) < 0.3).astype(int)
    # Few distinct values: many ties, within and across classes.
    s = np.round(rng.normal(size=n) + y, 1)
    s[:6] = 0.0
    counts = resample_counts(n, n_resamples=60, seed=seed)
    auc = weighted_roc_auc(y, s, counts)
    ap = weighted_average_precision(y, s, counts)
    np.testing.assert_allclose(auc, _sklearn(roc_auc_score, y, s, counts), rtol=1e-10)
    ref_ap = np.array([average_precision_score(y, s, sample_weight=w) if w[y > 0].sum() > 0
                       else np.nan for w in counts])
    np.testing.assert_allclose(ap, ref_ap, rtol=1e-10)
    # Unit weights are the plain metric.
    ones = np.ones(n)
    assert weighted_roc_auc(y, s, ones)[0] == pytest.approx(roc_auc_score(y, s))
    assert weighted_average_precision(y, s, ones)[0] == pytest.approx(
        average_precision_score(y, s))


def test_weighted_auc_is_nan_where_a_class_is_not_drawn():
    y = np.array([1, 0, 0, 0])
    s = np.array([0.9, 0.1, 0.2, 0.3])
    counts = np.array([[0, 2, 1, 1], [1, 1, 1, 1], [4, 0, 0, 0]])
    auc = weighted_roc_auc(y, s, counts)
    assert np.isnan(auc[0]) and auc[1] == 1.0 and np.isnan(auc[2])
    ap = weighted_average_precision(y, s, counts)
    assert np.isnan(ap[0]) and ap[1] == 1.0 and ap[2] == 1.0
    with pytest.raises(ValueError, match="finite"):
        weighted_roc_auc(y, np.array([np.nan, 0, 0, 0]), counts)


def test_mean_of_a_constant_has_a_zero_width_interval():
    counts = resample_counts(100, 300, seed=0)
    iv = mean_interval(np.full(100, 0.25), counts)
    assert iv == {"value": 0.25, "ci_low": 0.25, "ci_high": 0.25}


def test_nan_units_are_ignored_and_intervals_contain_the_value():
    rng = np.random.default_rng(0)
    values = rng.random(500)
    values[::10] = np.nan
    counts = resample_counts(500, 1000, seed=1)
    iv = mean_interval(values, counts)
    assert iv["value"] == pytest.approx(np.nanmean(values))
    assert iv["ci_low"] < iv["value"] < iv["ci_high"]
    # The standard error of a uniform mean over 450 units is about 0.0136.
    assert 0.04 < iv["ci_high"] - iv["ci_low"] < 0.07
    assert mean_interval(np.full(3, np.nan), resample_counts(3, 10)) == \
        {"value": None, "ci_low": None, "ci_high": None}


def test_paired_difference_of_identical_models_is_exactly_zero():
    rng = np.random.default_rng(0)
    a = rng.random(200)
    counts = resample_counts(200, 500)
    assert paired_difference(a, a.copy(), counts) == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}


def test_paired_difference_is_narrower_than_the_unpaired_intervals():
    rng = np.random.default_rng(0)
    difficulty = rng.random(300)  # shared by both models: cancels in the difference
    a = difficulty + 0.05 + rng.normal(0, 0.02, 300)
    b = difficulty + rng.normal(0, 0.02, 300)
    b[5] = np.nan  # that unit is left out of the difference
    counts = resample_counts(300, 1000)
    d = paired_difference(a, b, counts)
    keep = np.isfinite(b)
    assert d["value"] == pytest.approx(np.mean(a[keep] - b[keep]))
    assert 0 < d["ci_low"] < 0.05 < d["ci_high"]
    ia = mean_interval(a, counts)
    assert d["ci_high"] - d["ci_low"] < (ia["ci_high"] - ia["ci_low"]) / 5


def test_unit_metric_intervals_layout_and_pairs():
    rng = np.random.default_rng(0)
    per_unit = {m: {"auc": rng.random(80), "ap": rng.random(80)} for m in ("als", "pop", "rnd")}
    out = unit_metric_intervals(per_unit, unit="user", n_resamples=200, seed=7)
    assert set(out["models"]) == {"als", "pop", "rnd"}
    assert set(out["paired"]) == {"als_minus_pop", "als_minus_rnd"}
    assert set(out["models"]["als"]["auc"]) == {"value", "ci_low", "ci_high"}
    assert out["bootstrap"] == {"unit": "user", "n_units": 80, "n_resamples": 200,
                                "confidence": 0.95, "seed": 7, "method": "percentile"}
    out2 = unit_metric_intervals(per_unit, [("rnd", "pop")], n_resamples=200)
    assert set(out2["paired"]) == {"rnd_minus_pop"}
    with pytest.raises(ValueError, match="differ in length"):
        unit_metric_intervals({"a": {"auc": np.ones(3)}, "b": {"auc": np.ones(4)}})


def _tag_data(seed=0, n=60, tags=8):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, tags)) < 0.25).astype(int)
    y[:, -1] = 0  # a tag with no positive clip: never scored
    good = np.round(y + rng.normal(0, 0.6, y.shape), 1)
    bad = np.round(rng.normal(size=y.shape), 1)
    return y, good, bad


def test_tag_intervals_value_is_the_full_data_macro_and_replicates_match_sklearn():
    y, good, bad = _tag_data()
    out = tag_metric_intervals(y, {"cnn": good, "bag_of_frames": bad}, n_resamples=400, seed=2)
    scored = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    cnn = out["models"]["cnn"]
    assert cnn["roc_auc_macro"]["value"] == pytest.approx(
        np.mean([roc_auc_score(y[:, j], good[:, j]) for j in scored]))
    assert cnn["pr_auc_macro"]["value"] == pytest.approx(
        np.mean([average_precision_score(y[:, j], good[:, j]) for j in scored]))
    for metric in ("roc_auc_macro", "pr_auc_macro"):
        iv = cnn[metric]
        assert iv["ci_low"] <= iv["value"] <= iv["ci_high"]
    diff = out["paired"]["cnn_minus_bag_of_frames"]["roc_auc_macro"]
    assert diff["value"] == pytest.approx(
        cnn["roc_auc_macro"]["value"] - out["models"]["bag_of_frames"]["roc_auc_macro"]["value"])
    assert diff["ci_low"] > 0.1  # the planted model is clearly better
    assert out["bootstrap"]["unit"] == "clip" and out["bootstrap"]["n_units"] == 60

    # The replicate macro averages, recomputed with sklearn and sample weights.
    counts = resample_counts(len(y), 400, seed=2)
    reps = []
    for w in counts[:25]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per = [roc_auc_score(y[:, j], good[:, j], sample_weight=w) for j in scored
                   if w[y[:, j] > 0].sum() > 0 and w[y[:, j] == 0].sum() > 0]
        reps.append(np.mean(per))
    full = tag_metric_intervals(y, {"cnn": good}, n_resamples=400, seed=2)
    assert full["models"]["cnn"] == cnn
    w = counts[:25]
    defined = ((w @ y) > 0) & ((w @ (1 - y)) > 0)
    roc = np.full(defined.shape, np.nan)
    for j in scored:
        roc[:, j] = weighted_roc_auc(y[:, j], good[:, j], w)
    roc[~defined] = np.nan
    np.testing.assert_allclose(np.nanmean(roc, axis=1), reps, rtol=1e-10)


def test_tag_intervals_of_identical_models_differ_by_exactly_zero():
    y, good, _ = _tag_data(1)
    out = tag_metric_intervals(y, {"a": good, "b": good.copy()}, n_resamples=100)
    assert out["paired"]["a_minus_b"]["roc_auc_macro"] == {"value": 0.0, "ci_low": 0.0,
                                                           "ci_high": 0.0}


def test_percentile_interval_ignores_undefined_replicates():
    iv = percentile_interval(0.5, np.r_[np.linspace(0, 1, 101), np.nan, np.inf])
    assert iv["ci_low"] == pytest.approx(0.025) and iv["ci_high"] == pytest.approx(0.975)
    assert percentile_interval(0.5, [np.nan]) == {"value": 0.5, "ci_low": None, "ci_high": None}


def test_warnings_for_wide_intervals_and_tiny_test_sets():
    y, good, bad = _tag_data(0, n=20)
    out = tag_metric_intervals(y, {"cnn": good, "bag_of_frames": bad}, n_resamples=200)
    found = interval_warnings(out, 0.1)
    assert any(w.startswith("only 20 clips evaluated (fewer than 30)") for w in found)
    assert any(w.startswith("cnn roc_auc_macro: 95% interval wider than 0.10 (") and
               w.endswith(", 20 clips)") for w in found)
    assert any(w.startswith("cnn_minus_bag_of_frames pr_auc_macro: 95% interval") for w in found)

    narrow = {"als": {"auc": {"value": 0.8, "ci_low": 0.79, "ci_high": 0.81}}}
    assert interval_warnings(narrow, 0.1, n_units=2000, unit="user") == []
    wide = {"cnn": {"auc": {"value": 0.78, "ci_low": 0.71, "ci_high": 0.84}}}
    assert interval_warnings(wide, 0.1, n_units=59, unit="user") == [
        "cnn auc: 95% interval wider than 0.10 (0.71 to 0.84, 59 users)"]
    assert interval_warnings(wide, 0.2) == []


def test_blocks_of_replicates_give_the_same_curves(monkeypatch):
    from krotos.stats import bootstrap

    y, good, _ = _tag_data(3)
    counts = resample_counts(len(y), 97, seed=5)
    whole = [f(y[:, 0], good[:, 0], counts) for f in (weighted_roc_auc,
                                                       weighted_average_precision)]
    monkeypatch.setattr(bootstrap, "_BLOCK_CELLS", 7 * len(y))  # blocks of 7 replicates
    blocks = [f(y[:, 0], good[:, 0], counts) for f in (weighted_roc_auc,
                                                        weighted_average_precision)]
    np.testing.assert_array_equal(whole[0], blocks[0])
    np.testing.assert_array_equal(whole[1], blocks[1])
