"""Data drift statistics: a model version's training baseline, and new records compared with it.

One self-contained file (standard library, NumPy and pandas; nothing from this repository), so
that it can be shipped alone into a Lambda function or a processing job.

``build_baseline`` summarises a model version's **training split** (raw features typed as
``schema.json`` declares them) and, optionally, the model's predicted scores on it, into a small
JSON-serialisable dict. ``compare`` checks new records (and their scores) against that baseline
and returns a ``DriftReport``.

Method
======

Numeric features (and the predicted scores) are compared at float32 precision, as the model
sees them. Missing values (empty, NaN, None, pandas' missing markers such as ``NA``) and values
that are not finite numbers are left out of the distribution and counted by completeness.

* The baseline keeps ``QUANTILE_COUNT`` (101) quantiles, at probabilities 0, 0.01, ..., 1
  (NumPy's default "linear" method, type 7 of Hyndman and Fan), plus count, mean, population
  standard deviation, minimum and maximum. Its CDF ``B`` is the piecewise-linear function through
  the points ``(quantile_k, k / 100)``; equal quantiles make a jump, and ``B`` is
  right-continuous (``B(x)`` is the highest probability of a quantile ``<= x``). ``B`` differs
  from the training sample's empirical CDF by at most ``1/100 + 1/n_baseline`` anywhere (the
  *sketch resolution*).
* The distance is the L-infinity (Kolmogorov-Smirnov) distance ``sup_x |B(x) - E(x)|`` between
  ``B`` and the empirical CDF ``E`` of the new values, computed exactly: between two consecutive
  new values ``E`` is constant and ``B`` non-decreasing (linear between the quantiles), so the
  supremum is reached at a new value or in the limit just before one; both functions are
  evaluated there, and just before there, with ``numpy.searchsorted`` (O(n log n)).

Categorical features are compared as text (``"None"`` and ``"01"`` are categories; empty text,
None and NaN are missing).

* The baseline keeps the counts of the ``MAX_CATEGORIES`` (100) most frequent categories (ties
  by text) and the total count of the others (``other_count``).
* The distance is the L-infinity distance between the frequency vectors (shares of the
  non-missing values) over the union of categories. When the baseline kept every category, a
  category it never saw is its own entry with a baseline share of 0; when it kept only the top
  100, the categories outside them are summed into one "other" entry and compared with
  ``other_count``'s share. The categories outside the baseline's list are reported (the most
  frequent ``NEW_CATEGORIES_SHOWN``, with their shares).

Verdicts, per feature
=====================

* ``missing column``: the feature is not a column of the records;
* ``type mismatch``: a numeric feature where more than half of the non-empty values are not
  numbers (``TYPE_MISMATCH_SHARE``); fewer such values are counted as missing instead;
* ``drift``: the distance exceeds the feature's threshold, or completeness (the share of
  non-missing values) moved by more than its threshold;
* ``insufficient data``: fewer than ``min_rows`` records (then nothing statistical is checked)
  or fewer than ``min_rows`` non-missing values (then the distribution is not checked): never
  drift;
* ``ok``.

Missing columns and type mismatches are schema checks and apply whatever the sample size.
Columns of the records that are not features are reported as ``extra_columns`` (the schema's
label and excluded columns are not), and are not drift: the model ignores them.

Thresholds
==========

AWS documents 0.1 on the L-infinity distance for its own monitor (``threshold``); completeness
uses 0.1 on the absolute change (``completeness_threshold``). A fixed 0.1 false-alarms on small
windows (at n = 100 the KS statistic of a same-distribution sample exceeds 0.136 one time in
twenty), and a comparison makes one check per feature, so each check uses the **effective
threshold**

    max(threshold, c * sqrt(1/n + 1/n_baseline) + resolution)

where ``n`` and ``n_baseline`` are the new and baseline sample sizes (non-missing values for
distributions, all records for completeness), ``resolution`` the sketch resolution (1/100 for
numeric quantiles, 0 for exact counts), and ``c = sqrt(ln(2 m / alpha) / 2)`` the critical
value of the Kolmogorov distribution at ``alpha / m``, ``m`` being the number of checks in the
comparison (two per feature present, distribution and completeness, and one for the scores):

* ``2 exp(-2 c^2)`` bounds the tail of the asymptotic two-sample KS statistic scaled by
  ``1 / sqrt(1/n + 1/n_baseline)``, and bounds the one-sample tail at every ``n``
  (Dvoretzky-Kiefer-Wolfowitz-Massart); the resolution term covers the sketch's own error.
  Split over the ``m`` checks (Bonferroni), the probability that a comparison of
  same-distribution records flags anything is at most about ``alpha``, however many features
  the model has.
* A category share or a completeness is one proportion, whose standard deviation is at most
  ``sqrt(1/n + 1/n_baseline) / 2``: the same threshold is at least ``2 c`` standard deviations
  away, far more conservative than for the KS statistic.
* ``alpha`` defaults to 0.001 (``c`` = 2.42 with 30 features): the check is scheduled (say
  hourly) and an alarm can start a retraining, so even the worst case, every window small, must
  stay near one false alarm in a thousand checks; measured on same-distribution samples, the
  rate is about ten times lower still (the bound is conservative).
* With 30 features and a large baseline, the effective threshold is 0.25 at 100 values and
  reaches 0.1 at about 700 (numeric) or 600 (categorical); below, a shift must be larger to be
  flagged, which is what the sample can support. Below ``min_rows`` (100) nothing statistical
  is judged at all.

The overall result: ``drifted`` is true when any feature (or the scores) has the verdict
``drift``, ``missing column`` or ``type mismatch``; ``drift_score`` is the largest distance
among the checked distributions; ``status`` is ``drift``, ``ok``, or ``no data`` when there
are no records (no traffic: neither drift nor an error).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

FORMAT_VERSION = 1
REPORT_FORMAT_VERSION = 1
QUANTILE_COUNT = 101
MAX_CATEGORIES = 100
NEW_CATEGORIES_SHOWN = 5
TYPE_MISMATCH_SHARE = 0.5
DEFAULT_THRESHOLD = 0.1
DEFAULT_COMPLETENESS_THRESHOLD = 0.1
DEFAULT_MIN_ROWS = 100
DEFAULT_ALPHA = 0.001
SCORE_NAME = "predicted score"

NUMERIC = "numeric"
CATEGORICAL = "categorical"
SCORE = "score"

OK = "ok"
DRIFT = "drift"
INSUFFICIENT = "insufficient data"
MISSING_COLUMN = "missing column"
TYPE_MISMATCH = "type mismatch"
NO_DATA = "no data"
# Verdicts that make a comparison "drifted".
ALARMING = frozenset({DRIFT, MISSING_COLUMN, TYPE_MISMATCH})

# Missing in a numeric field: pandas' default missing-value markers, compared in lower case
# (what the training data's reader and the serving code treat as missing).
_MISSING_WORDS = frozenset(
    {
        "",
        "nan",
        "-nan",
        "+nan",
        "na",
        "n/a",
        "#n/a",
        "#n/a n/a",
        "#na",
        "<na>",
        "null",
        "none",
        "-1.#ind",
        "1.#ind",
        "-1.#qnan",
        "1.#qnan",
    }
)
# A boolean input column holds these; the training data holds them as 0/1.
_BOOLEAN_WORDS = {"true": "1", "false": "0"}

Floats = npt.NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# Reading values


@dataclass(frozen=True)
class _Numbers:
    """A numeric column: its finite values (float32 precision, in float64) and what was not."""

    values: Floats
    missing: int
    invalid: int


def _numbers(series: pd.Series) -> _Numbers:
    """The finite numbers of a column; missing markers are missing, other text is invalid."""
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        raw = series.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(raw)
    else:
        raw, missing = _parse_text(series)
    with np.errstate(over="ignore", invalid="ignore"):
        # Numbers beyond float32 become infinite, as they do for the model.
        values = raw.astype(np.float32).astype(np.float64)
    finite = np.isfinite(values)
    return _Numbers(
        values=values[finite],
        missing=int(missing.sum()),
        invalid=int((~finite & ~missing).sum()),
    )


def _parse_text(series: pd.Series) -> tuple[Floats, npt.NDArray[np.bool_]]:
    """Numbers and missing flags of a text (or mixed) column."""
    objects = series.to_numpy(dtype=object)
    empty = objects == ""
    if empty.any():
        objects = np.where(empty, None, objects)
    try:
        # Plain number text, empty cells and None/NaN parse in one NumPy loop.
        raw: Floats = np.asarray(objects, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        pass
    else:
        return raw, np.isnan(raw)
    text = series.astype("string").str.strip().str.lower()
    missing = (text.isna() | text.isin(_MISSING_WORDS)).to_numpy(dtype=bool)
    parsed = pd.to_numeric(text.replace(_BOOLEAN_WORDS), errors="coerce")
    raw = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    raw[missing] = np.nan
    return raw, missing


@dataclass(frozen=True)
class _Categories:
    """A categorical column: count per category (as text) and the number of missing values."""

    counts: dict[str, int]
    missing: int


def _categories(series: pd.Series) -> _Categories:
    counts: dict[str, int] = {}
    for value, count in series.value_counts(dropna=True, sort=False).items():
        text = value if isinstance(value, str) else str(value)
        counts[text] = counts.get(text, 0) + int(count)
    counts.pop("", None)  # an empty cell is missing
    return _Categories(counts=counts, missing=len(series) - sum(counts.values()))


# --------------------------------------------------------------------------------------------
# The baseline


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def quantiles(values: Floats, count: int = QUANTILE_COUNT) -> Floats:
    """``count`` quantiles at evenly spaced probabilities 0..1 (NumPy's "linear" method).

    Computed from one sort (faster than ``numpy.quantile`` for ~100 probabilities).
    """
    ordered = np.sort(values)
    position = np.linspace(0.0, 1.0, count) * (ordered.size - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, ordered.size - 1)
    fraction = position - low
    below, above = ordered[low], ordered[high]
    # As numpy.quantile interpolates: exact at both ends and where below == above.
    result: Floats = np.where(
        fraction < 0.5,
        below + (above - below) * fraction,
        above - (above - below) * (1.0 - fraction),
    )
    return result


def numeric_summary(values: Floats) -> dict[str, Any]:
    """Count, mean, population std, min, max and quantiles of finite values (JSON-ready)."""
    if values.size == 0:
        return {"count": 0, "mean": None, "std": None, "min": None, "max": None, "quantiles": None}
    return {
        "count": int(values.size),
        "mean": _finite_or_none(float(np.mean(values))),
        "std": _finite_or_none(float(np.std(values))),
        "min": float(values.min()),
        "max": float(values.max()),
        "quantiles": quantiles(values).tolist(),
    }


def _numeric_baseline(series: pd.Series) -> dict[str, Any]:
    numbers = _numbers(series)
    return {
        "completeness": _share(numbers.values.size, len(series)),
        "missing": numbers.missing,
        "invalid": numbers.invalid,
        "numeric": numeric_summary(numbers.values),
    }


def _categorical_baseline(series: pd.Series, max_categories: int) -> dict[str, Any]:
    found = _categories(series)
    ranked = sorted(found.counts.items(), key=lambda item: (-item[1], item[0]))
    kept = ranked[:max_categories]
    present = sum(found.counts.values())
    return {
        "completeness": _share(present, len(series)),
        "missing": found.missing,
        "categorical": {
            "count": present,
            "distinct": len(ranked),
            "counts": dict(kept),
            "other_count": present - sum(count for _, count in kept),
        },
    }


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def build_baseline(
    frame: pd.DataFrame,
    schema: Mapping[str, Any],
    scores: npt.ArrayLike | None = None,
    *,
    max_categories: int = MAX_CATEGORIES,
) -> dict[str, Any]:
    """The drift baseline of a model version, from its training split.

    ``frame`` holds the raw features (other columns are ignored): numeric features as numbers
    (or number text), categorical features as text, missing values as None, NaN or empty text.
    ``schema`` is the split's ``schema.json`` (``features``: name and type ``numeric`` or
    ``categorical``; ``label_column`` and ``excluded_columns`` are remembered so that
    ``compare`` does not report them as extra columns; ``label_column``, ``positive_class`` and
    ``negative_class`` are kept as ``label``, so that ground truth given as the training data's
    label text can be mapped to 1/0). ``scores`` are the model's predicted
    scores on the same records, if any. The result is deterministic and JSON-serialisable
    (no NaN: None where a value is undefined); see the module's docstring for the method.
    """
    if max_categories < 1:
        raise ValueError(f"max_categories must be at least 1, not {max_categories}")
    features = _schema_features(schema)
    absent = [name for name, _ in features if name not in frame.columns]
    if absent:
        raise ValueError(f"the frame has no column(s) {absent} for feature(s) of the schema")
    summaries = []
    for name, kind in features:
        series = frame[name]
        summary = (
            _numeric_baseline(series)
            if kind == NUMERIC
            else _categorical_baseline(series, max_categories)
        )
        summaries.append({"name": name, "type": kind, **summary})
    return {
        "format_version": FORMAT_VERSION,
        "method": {
            "quantiles": QUANTILE_COUNT,
            "quantile_method": "linear",
            "max_categories": max_categories,
        },
        "rows": len(frame),
        "ignored_columns": _ignored_columns(schema),
        "label": _label(schema),
        "features": summaries,
        "score": None if scores is None else _score_baseline(scores),
    }


def _score_baseline(scores: npt.ArrayLike) -> dict[str, Any]:
    values = np.asarray(scores, dtype=np.float64).ravel()
    return {"rows": int(values.size), **_numeric_baseline(pd.Series(values))}


def _schema_features(schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    features = schema.get("features")
    if not isinstance(features, Sequence) or not features:
        raise ValueError("the schema has no features")
    result: list[tuple[str, str]] = []
    for feature in features:
        name, kind = feature.get("name"), feature.get("type")
        if not isinstance(name, str) or kind not in (NUMERIC, CATEGORICAL):
            raise ValueError(
                f"schema feature {feature!r} needs a name and a type numeric|categorical"
            )
        result.append((name, kind))
    names = [name for name, _ in result]
    if len(set(names)) != len(names):
        raise ValueError(f"the schema names a feature twice: {names}")
    return result


def _label(schema: Mapping[str, Any]) -> dict[str, str | None] | None:
    """The label column and its class texts, so that the production check can read ground
    truth given as the training data's label text (None: the schema names no label)."""
    column = schema.get("label_column")
    if not isinstance(column, str):
        return None
    positive, negative = schema.get("positive_class"), schema.get("negative_class")
    return {
        "column": column,
        "positive_class": None if positive is None else str(positive),
        "negative_class": None if negative is None else str(negative),
    }


def _ignored_columns(schema: Mapping[str, Any]) -> list[str]:
    label = schema.get("label_column")
    excluded = schema.get("excluded_columns") or []
    return ([label] if isinstance(label, str) else []) + [str(name) for name in excluded]


# --------------------------------------------------------------------------------------------
# Distances


def baseline_cdf(knots: Floats, points: Floats, *, before: bool = False) -> Floats:
    """The baseline CDF ``B`` at ``points`` (its left limit ``B(x-)`` when ``before``).

    ``B`` is piecewise linear through ``(knots[k], k / (K - 1))``, ``knots`` sorted, ``K >= 2``;
    0 below the first knot, 1 from the last; at a run of equal knots it jumps, and ``B(x)`` is
    the highest probability of a knot ``<= x`` (right-continuous).
    """
    count = knots.size
    probabilities = np.linspace(0.0, 1.0, count)
    # Knots <= x (at x) or < x (just before x): x lies in [knots[j-1], knots[j]) or
    # (knots[j-1], knots[j]], an interval of positive width whenever 0 < j < count.
    index = np.searchsorted(knots, points, side="left" if before else "right")
    low = np.clip(index - 1, 0, count - 2)
    x0, x1 = knots[low], knots[low + 1]
    width = x1 - x0
    fraction = np.clip((points - x0) / np.where(width > 0, width, 1.0), 0.0, 1.0)
    p0 = probabilities[low]
    inside = p0 + (probabilities[low + 1] - p0) * fraction
    result: Floats = np.where(index == 0, 0.0, np.where(index == count, 1.0, inside))
    return result


def cdf_distance(knots: Floats, values: Floats) -> float:
    """Exact ``sup_x |B(x) - E(x)|``: ``B`` as in ``baseline_cdf``, ``E`` the ECDF of ``values``.

    Between two consecutive values (and below the first, and from the last) ``E`` is constant
    and ``B`` non-decreasing, so ``|B - E|`` is largest at an end of the interval: at a value,
    or in the limit just before one. Both are evaluated at every value, so the knots themselves
    need no evaluation. O(n log n) for n values (``values`` non-empty and finite).
    """
    ordered = np.sort(values)
    at = np.abs(
        baseline_cdf(knots, ordered)
        - np.searchsorted(ordered, ordered, side="right") / ordered.size
    )
    before = np.abs(
        baseline_cdf(knots, ordered, before=True)
        - np.searchsorted(ordered, ordered, side="left") / ordered.size
    )
    return float(max(at.max(), before.max()))


@dataclass(frozen=True)
class CategoryDistance:
    """L-infinity distance of two category mixes, and the categories unknown to the baseline."""

    distance: float
    new_categories: tuple[tuple[str, float], ...]
    new_share: float


def category_distance(
    baseline_counts: Mapping[str, int], other_count: int, counts: Mapping[str, int]
) -> CategoryDistance:
    """L-infinity distance between the frequency vectors of ``baseline_counts`` and ``counts``.

    ``other_count`` counts the baseline's values outside ``baseline_counts`` (its categories
    beyond the kept ones): when it is 0, each unseen category is its own entry (baseline share
    0); otherwise the unseen categories are summed into one entry compared with its share.
    Both mixes need at least one value.
    """
    base_total = sum(baseline_counts.values()) + other_count
    total = sum(counts.values())
    gaps = [
        abs(counts.get(name, 0) / total - count / base_total)
        for name, count in baseline_counts.items()
    ]
    unseen = sorted(
        ((name, count) for name, count in counts.items() if name not in baseline_counts),
        key=lambda item: (-item[1], item[0]),
    )
    new_share = sum(count for _, count in unseen) / total
    if other_count:
        gaps.append(abs(new_share - other_count / base_total))
    elif unseen:
        gaps.append(unseen[0][1] / total)
    shown = tuple((name, count / total) for name, count in unseen[:NEW_CATEGORIES_SHOWN])
    return CategoryDistance(
        distance=max(gaps, default=0.0), new_categories=shown, new_share=new_share
    )


def critical_value(alpha: float, checks: int) -> float:
    """Kolmogorov critical value at ``alpha / checks``: ``sqrt(ln(2 checks / alpha) / 2)``."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha}")
    return math.sqrt(math.log(2.0 * max(checks, 1) / alpha) / 2.0)


def effective_threshold(
    threshold: float, critical: float, size: int, baseline_size: int, resolution: float = 0.0
) -> float:
    """``max(threshold, critical * sqrt(1/size + 1/baseline_size) + resolution)``."""
    return max(threshold, critical * math.sqrt(1.0 / size + 1.0 / baseline_size) + resolution)


# --------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class FeatureResult:
    """The verdict on one feature (or on the predicted scores: kind ``score``).

    ``distance`` is the L-infinity distance (None when it could not be computed), ``threshold``
    the effective threshold it was held against (None when the distribution was not checked),
    ``values`` the number of non-missing values compared, ``completeness_*`` the share of
    non-missing values in the baseline and now and the effective completeness threshold,
    ``reasons`` what was flagged (``distribution``, ``completeness``, ``type``).
    """

    name: str
    kind: str
    verdict: str
    distance: float | None = None
    threshold: float | None = None
    values: int = 0
    completeness_baseline: float | None = None
    completeness_now: float | None = None
    completeness_threshold: float | None = None
    reasons: tuple[str, ...] = ()
    new_categories: tuple[tuple[str, float], ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        change = (
            None
            if self.completeness_now is None or self.completeness_baseline is None
            else _round(self.completeness_now - self.completeness_baseline)
        )
        return {
            "name": self.name,
            "kind": self.kind,
            "verdict": self.verdict,
            "distance": _round(self.distance),
            "threshold": _round(self.threshold),
            "values": self.values,
            "completeness": {
                "baseline": _round(self.completeness_baseline),
                "now": _round(self.completeness_now),
                "change": change,
                "threshold": _round(self.completeness_threshold),
            },
            "reasons": list(self.reasons),
            "new_categories": [
                {"value": name, "share": _round(share)} for name, share in self.new_categories
            ],
            "notes": list(self.notes),
        }


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 6)


@dataclass(frozen=True)
class DriftReport:
    """The result of ``compare``: one ``FeatureResult`` per baseline feature, and the scores'."""

    rows: int
    features: tuple[FeatureResult, ...]
    score: FeatureResult | None
    extra_columns: tuple[str, ...]
    threshold: float
    completeness_threshold: float
    min_rows: int
    alpha: float
    critical_value: float
    checks: int
    notes: tuple[str, ...] = ()

    @property
    def results(self) -> tuple[FeatureResult, ...]:
        """The features' results, then the scores' (if compared)."""
        return self.features + ((self.score,) if self.score is not None else ())

    @property
    def drifted(self) -> bool:
        return any(result.verdict in ALARMING for result in self.results)

    @property
    def status(self) -> str:
        """``no data`` (no records), ``drift`` or ``ok``."""
        if self.rows == 0:
            return NO_DATA
        return DRIFT if self.drifted else OK

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.results if r.verdict in ALARMING)

    @property
    def missing_columns(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.features if r.verdict == MISSING_COLUMN)

    @property
    def drift_score(self) -> float | None:
        """The largest distance among the distributions checked (None: none was)."""
        return max(
            (
                r.distance
                for r in self.results
                if r.threshold is not None and r.distance is not None
            ),
            default=None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (no NaN: None where a value is undefined)."""
        return {
            "format_version": REPORT_FORMAT_VERSION,
            "status": self.status,
            "drifted": self.drifted,
            "drift_score": _round(self.drift_score),
            "rows": self.rows,
            "drifted_features": list(self.drifted_features),
            "missing_columns": list(self.missing_columns),
            "extra_columns": list(self.extra_columns),
            "settings": {
                "threshold": self.threshold,
                "completeness_threshold": self.completeness_threshold,
                "min_rows": self.min_rows,
                "alpha": self.alpha,
                "checks": self.checks,
                "critical_value": _round(self.critical_value),
            },
            "features": [result.to_dict() for result in self.features],
            "score": None if self.score is None else self.score.to_dict(),
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """One line: the status, the records checked and what drifted."""
        if self.status == NO_DATA:
            return "no data: 0 records checked"
        flagged = ", ".join(self.drifted_features) or "nothing"
        score = "-" if self.drift_score is None else f"{self.drift_score:.3f}"
        return (
            f"{self.status}: {self.rows} records checked, drift score {score}, flagged: {flagged}"
        )

    def lines(self) -> list[str]:
        """One aligned line per feature (then the scores): name, distance, threshold, verdict."""
        if self.status == NO_DATA:
            return [self.summary()]
        width = max(len(result.name) for result in self.results)
        return [_line(result, width) for result in self.results]


def _line(result: FeatureResult, width: int) -> str:
    distance = "-" if result.distance is None else f"{result.distance:.3f}"
    if result.threshold is None or result.distance is None:
        against = ""
    else:
        against = f"{'>' if result.distance > result.threshold else '<=':>2} {result.threshold:.3f}"
    text = f"{result.name:<{width}}  {distance:>5}  {against:<8}  {result.verdict}"
    details = "; ".join(result.notes)
    return f"{text}  ({details})" if details else text


# --------------------------------------------------------------------------------------------
# Comparing


@dataclass(frozen=True)
class _Settings:
    threshold: float
    completeness_threshold: float
    min_rows: int
    critical: float
    baseline_rows: int


@dataclass
class _Flags:
    """What one feature's checks found: reasons for drift and notes."""

    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _completeness(
    baseline: Mapping[str, Any], present: int, rows: int, settings: _Settings, flags: _Flags
) -> dict[str, Any]:
    """Completeness fields of a result; flags a change beyond its threshold."""
    before = baseline.get("completeness")
    now = present / rows if rows else None
    fields: dict[str, Any] = {"completeness_baseline": before, "completeness_now": now}
    if before is None or now is None or rows < settings.min_rows:
        return fields
    limit = effective_threshold(
        settings.completeness_threshold, settings.critical, rows, settings.baseline_rows
    )
    fields["completeness_threshold"] = limit
    if abs(now - before) > limit:
        flags.reasons.append("completeness")
        flags.notes.append(f"completeness {before:.3f} -> {now:.3f}")
    return fields


def _distribution(
    *,
    distance: float | None,
    present: int,
    base_count: int,
    resolution: float,
    settings: _Settings,
    flags: _Flags,
) -> dict[str, Any]:
    """Distance fields of a result; flags a distance beyond the effective threshold."""
    fields: dict[str, Any] = {"distance": distance, "values": present}
    if base_count == 0:
        flags.notes.append("no values in the baseline")
        return fields
    if distance is None or present < settings.min_rows:
        flags.notes.append(f"{present} values, fewer than min_rows {settings.min_rows}")
        return fields
    limit = effective_threshold(
        settings.threshold, settings.critical, present, base_count, resolution
    )
    fields["threshold"] = limit
    if distance > limit:
        flags.reasons.append("distribution")
    return fields


def _verdict(flags: _Flags, fields: Mapping[str, Any]) -> str:
    if "type" in flags.reasons:
        return TYPE_MISMATCH
    if flags.reasons:
        return DRIFT
    if fields.get("threshold") is None:
        return INSUFFICIENT
    return OK


def _result(name: str, kind: str, flags: _Flags, fields: dict[str, Any]) -> FeatureResult:
    return FeatureResult(
        name=name,
        kind=kind,
        verdict=_verdict(flags, fields),
        reasons=tuple(flags.reasons),
        notes=tuple(flags.notes),
        **fields,
    )


def _compare_numeric(
    name: str, kind: str, baseline: Mapping[str, Any], series: pd.Series, settings: _Settings
) -> FeatureResult:
    numbers = _numbers(series)
    flags = _Flags()
    given = len(series) - numbers.missing
    if numbers.invalid:
        flags.notes.append(f"{numbers.invalid} of {given} given values are not numbers")
        if numbers.invalid > TYPE_MISMATCH_SHARE * given:
            flags.reasons.append("type")
    summary = baseline["numeric"]
    knots = np.asarray(summary.get("quantiles") or [], dtype=np.float64)
    present = int(numbers.values.size)
    measured = knots.size >= 2 and present > 0
    distance = cdf_distance(knots, numbers.values) if measured else None
    resolution = 1.0 / (knots.size - 1) if measured else 0.0
    fields = _distribution(
        distance=distance,
        present=present,
        base_count=int(summary["count"]),
        resolution=resolution,
        settings=settings,
        flags=flags,
    )
    if kind != SCORE:
        fields |= _completeness(baseline, present, len(series), settings, flags)
    return _result(name, kind, flags, fields)


def _compare_categorical(
    name: str, baseline: Mapping[str, Any], series: pd.Series, settings: _Settings
) -> FeatureResult:
    found = _categories(series)
    flags = _Flags()
    summary = baseline["categorical"]
    present = sum(found.counts.values())
    measured = (
        category_distance(summary["counts"], int(summary["other_count"]), found.counts)
        if present and summary["count"]
        else None
    )
    if measured is not None and measured.new_categories:
        flags.notes.append(f"{measured.new_share:.1%} of values outside the baseline's categories")
    fields = _distribution(
        distance=None if measured is None else measured.distance,
        present=present,
        base_count=int(summary["count"]),
        resolution=0.0,
        settings=settings,
        flags=flags,
    )
    fields |= _completeness(baseline, present, len(series), settings, flags)
    fields["new_categories"] = () if measured is None else measured.new_categories
    return _result(name, CATEGORICAL, flags, fields)


def _check_arguments(baseline: Mapping[str, Any], frame: pd.DataFrame, min_rows: int) -> None:
    version = baseline.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"unknown baseline format_version {version!r} (expected {FORMAT_VERSION})")
    if not isinstance(baseline.get("features"), Sequence):
        raise ValueError("the baseline has no features")
    if min_rows < 1:
        raise ValueError(f"min_rows must be at least 1, not {min_rows}")
    names = pd.Index([str(column) for column in frame.columns])
    if names.has_duplicates:
        raise ValueError(
            f"the records name a column twice: {sorted(set(names[names.duplicated()]))}"
        )


def compare(
    baseline: Mapping[str, Any],
    frame: pd.DataFrame,
    scores: npt.ArrayLike | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    completeness_threshold: float = DEFAULT_COMPLETENESS_THRESHOLD,
    min_rows: int = DEFAULT_MIN_ROWS,
    alpha: float = DEFAULT_ALPHA,
) -> DriftReport:
    """Compare new records (and the model's scores on them) with a baseline.

    ``frame`` holds the records' raw features by name (typed or as text: categorical values
    are compared as text, so read CSV files with ``dtype=str`` or the schema's types), ``scores``
    the predicted scores (missing or not finite: left out). ``threshold`` is the L-infinity
    distance beyond which a distribution drifted, ``completeness_threshold`` the change of
    completeness beyond which a feature drifted, both raised for small samples so that
    same-distribution records raise an alarm with probability at most about ``alpha`` per
    comparison; ``min_rows`` is the smallest sample checked. No records (an empty frame) is
    the status ``no data``. See the module's docstring for the method.
    """
    _check_arguments(baseline, frame, min_rows)
    specs = baseline["features"]
    columns = {str(column): column for column in frame.columns}
    score_baseline = None if scores is None else baseline.get("score")
    checks = 2 * sum(spec["name"] in columns for spec in specs) + int(score_baseline is not None)
    settings = _Settings(
        threshold=threshold,
        completeness_threshold=completeness_threshold,
        min_rows=min_rows,
        critical=critical_value(alpha, checks),
        baseline_rows=int(baseline["rows"]),
    )
    checked = len(frame) > 0
    return DriftReport(
        rows=len(frame),
        features=tuple(_compare_feature(spec, frame, columns, settings) for spec in specs)
        if checked
        else (),
        score=_compare_scores(score_baseline, scores, settings) if checked else None,
        extra_columns=_extra_columns(baseline, columns),
        threshold=threshold,
        completeness_threshold=completeness_threshold,
        min_rows=min_rows,
        alpha=alpha,
        critical_value=settings.critical,
        checks=checks,
        notes=("the baseline has no scores",) if scores is not None and not score_baseline else (),
    )


def _compare_scores(
    baseline: Mapping[str, Any] | None, scores: npt.ArrayLike | None, settings: _Settings
) -> FeatureResult | None:
    if baseline is None or scores is None:
        return None
    series = pd.Series(np.asarray(scores, dtype=np.float64).ravel())
    return _compare_numeric(SCORE_NAME, SCORE, baseline, series, settings)


def _compare_feature(
    spec: Mapping[str, Any], frame: pd.DataFrame, columns: Mapping[str, Any], settings: _Settings
) -> FeatureResult:
    name, kind = spec["name"], spec["type"]
    if name not in columns:
        return FeatureResult(
            name=name,
            kind=kind,
            verdict=MISSING_COLUMN,
            completeness_baseline=spec.get("completeness"),
            reasons=("missing column",),
        )
    series = frame[columns[name]]
    if kind == NUMERIC:
        return _compare_numeric(name, kind, spec, series, settings)
    return _compare_categorical(name, spec, series, settings)


def _extra_columns(baseline: Mapping[str, Any], columns: Mapping[str, Any]) -> tuple[str, ...]:
    known = {spec["name"] for spec in baseline["features"]} | set(
        baseline.get("ignored_columns") or []
    )
    return tuple(name for name in columns if name not in known)
