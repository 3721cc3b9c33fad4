# -*- coding: utf-8 -*-
# Copyright: kata-fleet developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Summary statistics of timing samples, the same for every measurement."""

import math


def percentile(ordered, fraction):
    """Linear interpolation between closest ranks (numpy's default), on sorted samples."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = int(math.floor(position))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(samples, digits=6):
    """n, min, median, mean, p50/p95/p99, max, sample stdev and CoV, in the samples' unit.

    Returns only ``{"n": 0}`` for no samples, so a caller never divides by zero.
    """
    ordered = sorted(samples)
    count = len(ordered)
    if not count:
        return {"n": 0}
    mean = sum(ordered) / count
    stdev = math.sqrt(sum((x - mean) ** 2 for x in ordered) / (count - 1)) if count > 1 else 0.0

    def rounded(value):
        return round(value, digits)

    return {
        "n": count,
        "min": rounded(ordered[0]),
        "median": rounded(percentile(ordered, 0.5)),
        "mean": rounded(mean),
        "p50": rounded(percentile(ordered, 0.5)),
        "p95": rounded(percentile(ordered, 0.95)),
        "p99": rounded(percentile(ordered, 0.99)),
        "max": rounded(ordered[-1]),
        "stdev": rounded(stdev),
        "cov": rounded(stdev / mean) if mean else None,
    }
