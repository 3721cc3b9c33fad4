# -*- coding: utf-8 -*-
"""plugins/module_utils/_stats.py: percentile and summarize.

Checked three ways: against values worked out by hand, against Python's
``statistics`` module, and by properties that must hold for any samples
(random ones from a fixed seed, so a failure reproduces).

statistics.quantiles(data, n=100, method="inclusive")[k - 1] is the k-th
percentile with position (len - 1) * k / 100 between the closest ranks,
interpolated linearly: the same definition as numpy's default ("linear"),
which _stats.percentile implements.  The module rounds to 6 digits, hence the
1e-6 tolerance against the unrounded references.
"""

import math
import random
import statistics

import pytest

from ansible_collections.kata_fleet.runtimes.plugins.module_utils._stats import percentile, summarize

KEYS = {"n", "min", "median", "mean", "p50", "p95", "p99", "max", "stdev", "cov"}
ROUNDING = 1e-6


def _close(value):
    return pytest.approx(value, abs=ROUNDING, rel=0)


# -- percentile -----------------------------------------------------------------------

def test_percentile_of_nothing_is_none():
    assert percentile([], 0.5) is None


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.95, 0.99, 1.0])
def test_percentile_of_one_sample_is_that_sample(fraction):
    assert percentile([7.25], fraction) == 7.25


@pytest.mark.parametrize("fraction, expected", [
    (0.0, 1.0),      # position 0
    (0.1, 1.4),      # position 0.4: 1 + 0.4 * (2 - 1)
    (0.25, 2.0),     # position 1, exactly a rank
    (0.5, 3.0),      # the middle rank
    (0.95, 4.8),     # position 3.8: 4 + 0.8 * (5 - 4)
    (0.99, 4.96),    # position 3.96
    (1.0, 5.0),      # the last rank, no rank beyond it is read
])
def test_percentile_interpolates_between_closest_ranks(fraction, expected):
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], fraction) == pytest.approx(expected, abs=1e-12)


def test_percentile_uneven_gaps():
    ordered = [0.1, 0.2, 1.0, 10.0]
    # position 3 * 0.95 = 2.85: 1.0 + 0.85 * (10.0 - 1.0)
    assert percentile(ordered, 0.95) == pytest.approx(8.65, abs=1e-12)
    # position 1.5: halfway between 0.2 and 1.0
    assert percentile(ordered, 0.5) == pytest.approx(0.6, abs=1e-12)


# -- summarize: hand-computed -------------------------------------------------------------

def test_summarize_no_samples():
    assert summarize([]) == {"n": 0}


def test_summarize_one_sample():
    summary = summarize([0.125])
    assert summary == {"n": 1, "min": 0.125, "median": 0.125, "mean": 0.125, "p50": 0.125, "p95": 0.125,
                       "p99": 0.125, "max": 0.125, "stdev": 0.0, "cov": 0.0}


def test_summarize_four_samples_by_hand():
    # mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, over n - 1 = 3: stdev sqrt(5/3)
    summary = summarize([4.0, 1.0, 3.0, 2.0])
    assert summary == {
        "n": 4,
        "min": 1.0,
        "median": 2.5,
        "mean": 2.5,
        "p50": 2.5,
        "p95": 3.85,   # position 2.85
        "p99": 3.97,   # position 2.97
        "max": 4.0,
        "stdev": 1.290994,   # sqrt(5/3) = 1.2909944487...
        "cov": 0.516398,     # 1.2909944487 / 2.5 = 0.5163977795...
    }


def test_summarize_odd_count_median_is_middle_sample():
    summary = summarize([0.3, 0.1, 0.2])
    assert summary["median"] == summary["p50"] == 0.2
    assert summary["mean"] == 0.2
    assert summary["stdev"] == 0.1   # deviations 0.1, 0, 0.1: sqrt(0.02 / 2)
    assert summary["cov"] == 0.5


def test_summarize_identical_samples_have_no_spread():
    summary = summarize([0.25] * 7)
    assert summary["stdev"] == 0.0 and summary["cov"] == 0.0
    assert {summary[key] for key in ("min", "median", "mean", "p95", "p99", "max")} == {0.25}


@pytest.mark.parametrize("samples", [[0.0, 0.0, 0.0], [-1.0, 1.0], [-2.0, 0.5, 1.5]])
def test_summarize_zero_mean_has_no_cov(samples):
    summary = summarize(samples)
    assert summary["mean"] == 0.0
    assert summary["cov"] is None


def test_summarize_zero_mean_keeps_its_stdev():
    assert summarize([-1.0, 1.0])["stdev"] == round(math.sqrt(2), 6)


def test_summarize_rounds_to_six_digits_and_digits_is_honoured():
    samples = [0.1234567891, 0.2345678912]
    assert summarize(samples)["min"] == 0.123457
    assert summarize(samples, digits=3)["max"] == 0.235
    assert summarize(samples, digits=3)["mean"] == 0.179


def test_summarize_does_not_reorder_the_callers_list():
    samples = [3.0, 1.0, 2.0]
    summarize(samples)
    assert samples == [3.0, 1.0, 2.0]


def test_summarize_accepts_any_iterable():
    assert summarize(iter([2.0, 1.0]))["median"] == 1.5
    assert summarize((x for x in [1, 2, 3]))["n"] == 3


def test_summarize_integers():
    summary = summarize([1, 2, 3, 4, 100])
    assert summary["median"] == 3 and summary["max"] == 100
    assert summary["mean"] == 22.0
    assert summary["p95"] == pytest.approx(80.8)   # position 3.8: 4 + 0.8 * 96


# -- summarize against the statistics module ------------------------------------------------

def _series(rng):
    """Samples shaped like startup times (skewed, a few slow outliers), uniform ones, and ties."""
    size = rng.randint(2, 60)
    kind = rng.choice(("lognormal", "uniform", "ties", "outlier"))
    if kind == "lognormal":
        return [rng.lognormvariate(math.log(0.12), 0.3) for dummy in range(size)]
    if kind == "uniform":
        return [rng.uniform(0.05, 2.0) for dummy in range(size)]
    if kind == "ties":
        return [rng.choice((0.1, 0.2, 0.2, 0.5)) for dummy in range(size)]
    return [rng.gauss(0.15, 0.01) for dummy in range(size - 1)] + [rng.uniform(3.0, 9.0)]


SERIES = [_series(random.Random(20261201 + seed)) for seed in range(200)]


@pytest.mark.parametrize("samples", SERIES[:60])
def test_summarize_matches_statistics_module(samples):
    summary = summarize(samples)
    # quantiles(n=100) gives 99 cut points: index k - 1 is the k-th percentile.
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    assert summary["n"] == len(samples)
    assert summary["min"] == _close(min(samples))
    assert summary["max"] == _close(max(samples))
    assert summary["median"] == _close(statistics.median(samples))
    assert summary["p50"] == _close(cuts[49])
    assert summary["p95"] == _close(cuts[94])
    assert summary["p99"] == _close(cuts[98])
    assert summary["mean"] == _close(statistics.fmean(samples))
    assert summary["stdev"] == _close(statistics.stdev(samples))
    assert summary["cov"] == _close(statistics.stdev(samples) / statistics.fmean(samples))


@pytest.mark.parametrize("size", [2, 3, 4, 5, 10, 20, 21, 100, 101])
def test_percentile_matches_statistics_inclusive_quantiles(size):
    rng = random.Random(size)
    ordered = sorted(rng.uniform(0, 1) for dummy in range(size))
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    for k in range(1, 100):
        assert percentile(ordered, k / 100.0) == pytest.approx(cuts[k - 1], abs=1e-12), k


def test_exclusive_quantiles_are_not_what_is_reported():
    # The default method of statistics.quantiles ('exclusive') is a different estimator:
    # make sure the comparison above is not vacuous.
    samples = [1.0, 2.0, 3.0, 4.0, 5.0]
    exclusive = statistics.quantiles(samples, n=100)[94]
    assert summarize(samples)["p95"] == 4.8 and exclusive != pytest.approx(4.8)


# -- properties over random samples -------------------------------------------------------------

@pytest.mark.parametrize("samples", SERIES + [[0.5], [0.2, 0.1]])
def test_summarize_properties(samples):
    summary = summarize(samples)
    assert set(summary) == KEYS
    assert summary["n"] == len(samples)
    assert summary["min"] <= summary["p50"] <= summary["p95"] <= summary["p99"] <= summary["max"]
    assert summary["min"] <= summary["mean"] <= summary["max"]
    assert summary["median"] == summary["p50"]
    assert summary["stdev"] >= 0.0
    if len(samples) > 1:
        assert summary["cov"] == _close(statistics.stdev(samples) / statistics.fmean(samples))
    # Every statistic is a plain float or int, so the module's JSON carries it as is.
    assert all(isinstance(value, (int, float)) for value in summary.values())


def test_summarize_is_independent_of_order():
    rng = random.Random(7)
    samples = [rng.uniform(0.1, 1.0) for dummy in range(25)]
    shuffled = list(samples)
    rng.shuffle(shuffled)
    assert summarize(shuffled) == summarize(sorted(samples)) == summarize(samples)
