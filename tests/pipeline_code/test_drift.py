"""drift: a model version's training baseline, and new records compared with it (issue 13)."""

from __future__ import annotations

import ast
import itertools
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas._libs.parsers import STR_NA_VALUES

from pipeline_code import drift, tabular_model

SCHEMA: dict[str, Any] = {
    "format_version": 1,
    "label_column": "churned",
    "excluded_columns": ["customer_id"],
    "features": [
        {"name": "age", "type": "numeric"},
        {"name": "income", "type": "numeric"},
        {"name": "visits", "type": "numeric"},
        {"name": "member", "type": "numeric"},
        {"name": "plan", "type": "categorical"},
        {"name": "region", "type": "categorical"},
    ],
}
NAMES = [feature["name"] for feature in SCHEMA["features"]]
# "None" and "01" are categories (text), not a missing value and a number.
PLANS = np.array(["basic", "plus", "pro", "None"], dtype=object)
PLAN_MIX = np.array([0.5, 0.3, 0.15, 0.05])
REGIONS = np.array(["01", "02", "10", "north", "south"], dtype=object)
BASELINE_ROWS = 5000


def records(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Raw features as read_split types them: float32 numbers, text categories, NaN/None."""
    age = rng.normal(40.0, 12.0, n)
    income = rng.lognormal(10.0, 0.6, n)
    income[rng.random(n) < 0.1] = np.nan
    plan = rng.choice(PLANS, n, p=PLAN_MIX)
    plan[rng.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "age": age.astype(np.float32),
            "income": income.astype(np.float32),
            "visits": rng.poisson(3.0, n).astype(np.float32),
            "member": (rng.random(n) < 0.3).astype(np.float32),
            "plan": plan,
            "region": rng.choice(REGIONS, n),
        }
    )


def scores_for(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.beta(2.0, 5.0, n)


@pytest.fixture(scope="module")
def baseline() -> dict[str, Any]:
    rng = np.random.default_rng(2026)
    frame = records(rng, BASELINE_ROWS)
    frame["churned"] = 1  # the label and excluded columns are not features
    frame["customer_id"] = np.arange(BASELINE_ROWS)
    return drift.build_baseline(frame, SCHEMA, scores_for(rng, BASELINE_ROWS))


def by_name(report: drift.DriftReport) -> dict[str, drift.FeatureResult]:
    return {result.name: result for result in report.results}


def verdicts(report: drift.DriftReport) -> dict[str, str]:
    return {name: result.verdict for name, result in by_name(report).items()}


# --------------------------------------------------------------------------------------------
# The baseline


def test_baseline_summarises_every_feature_and_the_scores(baseline: dict[str, Any]) -> None:
    assert baseline["format_version"] == drift.FORMAT_VERSION
    assert baseline["rows"] == BASELINE_ROWS
    assert baseline["ignored_columns"] == ["churned", "customer_id"]
    features = {feature["name"]: feature for feature in baseline["features"]}
    assert [(f["name"], f["type"]) for f in baseline["features"]] == [
        (f["name"], f["type"]) for f in SCHEMA["features"]
    ]
    income = features["income"]
    assert 0.88 < income["completeness"] < 0.92
    assert income["missing"] + income["numeric"]["count"] == BASELINE_ROWS
    summary = income["numeric"]
    assert len(summary["quantiles"]) == drift.QUANTILE_COUNT
    assert summary["quantiles"][0] == summary["min"]
    assert summary["quantiles"][-1] == summary["max"]
    assert summary["quantiles"] == sorted(summary["quantiles"])
    assert summary["min"] < summary["mean"] < summary["max"]
    plan = features["plan"]["categorical"]
    assert list(plan["counts"]) == ["basic", "plus", "pro", "None"]  # most frequent first
    assert plan["other_count"] == 0
    assert plan["distinct"] == 4
    assert sum(plan["counts"].values()) == plan["count"]
    assert set(features["region"]["categorical"]["counts"]) == set(REGIONS)
    score = baseline["score"]
    assert score["rows"] == BASELINE_ROWS
    assert score["completeness"] == 1.0
    assert 0.2 < score["numeric"]["mean"] < 0.4


def test_baseline_keeps_the_label_classes_for_ground_truth(baseline: dict[str, Any]) -> None:
    # SCHEMA names no classes: a 0/1 label as in older schemas.
    assert baseline["label"] == {
        "column": "churned",
        "positive_class": None,
        "negative_class": None,
    }
    frame = pd.DataFrame({"age": [1.0, 2.0]})
    schema = {
        "label_column": "churned",
        "positive_class": "Yes",
        "negative_class": "No",
        "features": [{"name": "age", "type": "numeric"}],
    }
    assert drift.build_baseline(frame, schema)["label"] == {
        "column": "churned",
        "positive_class": "Yes",
        "negative_class": "No",
    }
    del schema["label_column"]
    assert drift.build_baseline(frame, schema)["label"] is None


def test_baseline_is_deterministic_small_and_json(baseline: dict[str, Any]) -> None:
    rng = np.random.default_rng(2026)
    frame = records(rng, BASELINE_ROWS)
    again = drift.build_baseline(frame, SCHEMA, scores_for(rng, BASELINE_ROWS))
    text = json.dumps(baseline, allow_nan=False, sort_keys=True)
    assert json.dumps(again, allow_nan=False, sort_keys=True) == text
    assert json.loads(text) == baseline
    # 30 features (24 numeric, 6 categorical with 100 categories each): tens of KB.
    rng = np.random.default_rng(1)
    wide = pd.DataFrame({f"n{i}": rng.normal(size=2000) for i in range(24)})
    for i in range(6):
        wide[f"c{i}"] = rng.integers(0, 500, 2000).astype(str)
    schema = {
        "features": [{"name": c, "type": "categorical" if c[0] == "c" else "numeric"} for c in wide]
    }
    size = len(json.dumps(drift.build_baseline(wide, schema, rng.random(2000))))
    assert size < 80_000


def test_quantiles_are_numpys_linear_quantiles() -> None:
    rng = np.random.default_rng(3)
    for values in (rng.normal(size=1001), rng.integers(0, 4, 50).astype(float), np.array([7.0])):
        expected = np.quantile(values, np.linspace(0, 1, drift.QUANTILE_COUNT))
        np.testing.assert_array_equal(drift.quantiles(values), expected)


def test_undefined_values_are_none_not_nan() -> None:
    frame = pd.DataFrame({"x": [np.nan, None, np.nan], "c": [None, "", np.nan]})
    schema = {"features": [{"name": "x", "type": "numeric"}, {"name": "c", "type": "categorical"}]}
    built = drift.build_baseline(frame, schema)
    json.dumps(built, allow_nan=False)
    x, c = built["features"]
    assert x["completeness"] == 0.0
    assert x["numeric"] == {
        "count": 0,
        "mean": None,
        "std": None,
        "min": None,
        "max": None,
        "quantiles": None,
    }
    assert c["completeness"] == 0.0
    assert c["categorical"]["counts"] == {}
    assert drift.build_baseline(frame.iloc[:0], schema)["features"][0]["completeness"] is None


def test_baseline_refuses_a_frame_or_schema_that_do_not_match() -> None:
    with pytest.raises(ValueError, match="no column"):
        drift.build_baseline(pd.DataFrame({"age": [1.0]}), SCHEMA)
    with pytest.raises(ValueError, match=r"numeric\|categorical"):
        drift.build_baseline(pd.DataFrame({"a": [1]}), {"features": [{"name": "a", "type": "x"}]})
    with pytest.raises(ValueError, match="no features"):
        drift.build_baseline(pd.DataFrame({"a": [1]}), {"features": []})


# --------------------------------------------------------------------------------------------
# The numeric distance


def brute_force_distance(knots: np.ndarray, values: np.ndarray) -> float:
    """sup |B - E| by evaluating both, point by point, at every candidate and just before it."""
    q: list[float] = knots.tolist()
    sample: list[float] = values.tolist()
    count = len(q)

    def baseline_cdf(x: float) -> float:
        if x < q[0]:
            return 0.0
        if x >= q[-1]:
            return 1.0
        k = max(i for i in range(count) if q[i] <= x)  # q[k] <= x < q[k + 1]
        fraction = (x - q[k]) / (q[k + 1] - q[k])
        return (k + fraction) / (count - 1)

    def empirical_cdf(x: float) -> float:
        return sum(1 for v in sample if v <= x) / len(sample)

    candidates = sorted(set(q) | set(sample))
    # Closer than any two candidates: "just before" a candidate, within the segment before it.
    epsilon = 1e-7 * min((b - a for a, b in itertools.pairwise(candidates)), default=1)
    points = [p for c in candidates for p in (c, c - epsilon)]
    return max(abs(baseline_cdf(x) - empirical_cdf(x)) for x in points)


@pytest.mark.parametrize("seed", range(60))
def test_cdf_distance_is_the_exact_supremum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(2, 12))
    if seed % 2:
        # Ties everywhere: runs of equal knots (jumps in B) and repeated values (jumps in E).
        knots = np.sort(rng.integers(0, 6, count)).astype(float)
        values = rng.integers(-1, 7, int(rng.integers(1, 15))).astype(float)
    else:
        knots = np.sort(rng.normal(size=count))
        values = rng.normal(0.3, 1.2, int(rng.integers(1, 15)))
    expected = brute_force_distance(knots, values)
    assert drift.cdf_distance(knots, values) == pytest.approx(expected, abs=1e-6)


def test_cdf_distance_hand_computed() -> None:
    uniform = np.linspace(0.0, 100.0, 101)  # B(x) = x / 100 on [0, 100]
    assert drift.cdf_distance(uniform, np.array([50.0])) == pytest.approx(0.5)
    assert drift.cdf_distance(uniform, np.array([-5.0, 105.0])) == pytest.approx(0.5)
    assert drift.cdf_distance(uniform, np.arange(0.5, 100.0, 1.0)) == pytest.approx(0.005)
    # A point mass at 3 against the same point mass: no distance; one step off: all of it.
    mass = np.full(101, 3.0)
    assert drift.cdf_distance(mass, np.array([3.0, 3.0])) == 0.0
    assert drift.cdf_distance(mass, np.array([4.0])) == 1.0
    # 70 % zeros and 30 % ones, as the quantiles keep it: the 70th percentile interpolates
    # between 0 and 1 (0.3), so B(0) = 0.69 and B rises to 0.71 just before 1: within the
    # sketch resolution (0.01) of the true 0.7.
    binary = drift.quantiles(np.repeat([0.0, 1.0], [700, 300]))
    assert binary[70] == pytest.approx(0.3)
    assert drift.baseline_cdf(binary, np.array([0.0]))[0] == pytest.approx(0.69)
    assert drift.baseline_cdf(binary, np.array([1.0]), before=True)[0] == pytest.approx(0.71)
    assert drift.cdf_distance(binary, np.repeat([0.0, 1.0], [70, 30])) == pytest.approx(0.01)
    assert drift.cdf_distance(binary, np.repeat([0.0, 1.0], [40, 60])) == pytest.approx(0.31)


def test_baseline_cdf_is_within_its_resolution_of_the_training_sample() -> None:
    rng = np.random.default_rng(5)
    for values in (rng.exponential(size=3000), rng.poisson(2.0, 3000).astype(float)):
        knots = drift.quantiles(values)
        ordered = np.sort(values)
        points = np.concatenate((ordered, ordered - 1e-9))
        empirical = np.searchsorted(ordered, points, side="right") / ordered.size
        gap = np.abs(drift.baseline_cdf(knots, points) - empirical).max()
        assert gap <= 0.01 + 1 / values.size


# --------------------------------------------------------------------------------------------
# Comparing: no false alarms


def test_same_distribution_never_alarms(baseline: dict[str, Any]) -> None:
    """200 seeded windows of 100..1000 records drawn like the training split: no alarm.

    Each comparison makes 13 checks at a family-wise alpha of 0.001 (the default).
    """
    alarms = []
    for seed in range(200):
        rng = np.random.default_rng(10_000 + seed)
        n = 100 + (seed * 37) % 901
        report = drift.compare(baseline, records(rng, n), scores_for(rng, n))
        assert report.status == "ok" or report.drifted
        if report.drifted:
            alarms.append((seed, n, report.drifted_features))
    assert alarms == []


def test_large_same_distribution_sample_is_close(baseline: dict[str, Any]) -> None:
    rng = np.random.default_rng(7)
    report = drift.compare(baseline, records(rng, 20_000), scores_for(rng, 20_000))
    assert set(verdicts(report).values()) == {"ok"}
    assert report.drift_score is not None and report.drift_score < 0.04
    # Large samples hold the configured threshold itself.
    assert {result.threshold for result in report.results} == {0.1}


def test_tiny_samples_are_insufficient_data_never_drift(baseline: dict[str, Any]) -> None:
    for seed in range(30):
        rng = np.random.default_rng(seed)
        n = 1 + seed * 3
        frame = records(rng, n)
        frame["age"] += 100.0  # even a blatant shift: too few records to judge
        report = drift.compare(baseline, frame, scores_for(rng, n) + 0.5)
        assert not report.drifted
        assert report.status == "ok"
        assert set(verdicts(report).values()) == {"insufficient data"}
        assert all(result.threshold is None for result in report.results)
        assert by_name(report)["age"].distance == 1.0  # measured and reported, not judged


def test_small_windows_raise_the_threshold(baseline: dict[str, Any]) -> None:
    rng = np.random.default_rng(8)
    report = drift.compare(baseline, records(rng, 150), scores_for(rng, 150))
    assert report.checks == 2 * len(NAMES) + 1
    assert report.alpha == drift.DEFAULT_ALPHA == 0.001
    expected_c = math.sqrt(math.log(2 * report.checks / report.alpha) / 2)
    assert report.critical_value == pytest.approx(expected_c)
    region = by_name(report)["region"]
    assert region.threshold == pytest.approx(expected_c * math.sqrt(1 / 150 + 1 / BASELINE_ROWS))
    visits = by_name(report)["visits"]  # numeric: plus the quantile sketch's resolution
    assert visits.threshold == pytest.approx(
        expected_c * math.sqrt(1 / 150 + 1 / BASELINE_ROWS) + 0.01
    )
    assert report.to_dict()["settings"]["threshold"] == 0.1
    assert drift.critical_value(0.01, 1) == pytest.approx(1.6276, abs=1e-4)


# --------------------------------------------------------------------------------------------
# Comparing: what drift looks like


@pytest.mark.parametrize("n", [300, 5000])
def test_one_shifted_numeric_feature_is_the_only_one_flagged(
    baseline: dict[str, Any], n: int
) -> None:
    rng = np.random.default_rng(11)
    frame = records(rng, n)
    frame["age"] += 8.0  # two thirds of a standard deviation
    report = drift.compare(baseline, frame, scores_for(rng, n))
    assert report.drifted_features == ("age",)
    age = by_name(report)["age"]
    assert age.verdict == "drift" and age.reasons == ("distribution",)
    assert age.distance is not None and age.threshold is not None
    assert age.distance > age.threshold
    assert report.drift_score == age.distance
    assert report.status == "drift"


def test_a_scaled_feature_is_flagged(baseline: dict[str, Any]) -> None:
    rng = np.random.default_rng(12)
    frame = records(rng, 2000)
    frame["age"] = 40.0 + (frame["age"] - 40.0) * 1.6  # same centre, wider
    report = drift.compare(baseline, frame)
    assert report.drifted_features == ("age",)


def test_categorical_mix_and_new_categories_are_flagged(baseline: dict[str, Any]) -> None:
    rng = np.random.default_rng(13)
    frame = records(rng, 2000)
    frame["plan"] = rng.choice(PLANS, 2000, p=[0.3, 0.3, 0.35, 0.05])
    regions = np.concatenate((REGIONS, ["west", "east"]))
    frame["region"] = rng.choice(regions, 2000, p=[0.14, 0.14, 0.14, 0.14, 0.14, 0.2, 0.1])
    report = drift.compare(baseline, frame)
    assert set(report.drifted_features) == {"plan", "region"}
    plan, region = by_name(report)["plan"], by_name(report)["region"]
    assert plan.distance == pytest.approx(0.2, abs=0.04)
    assert plan.new_categories == ()
    assert [name for name, _ in region.new_categories] == ["west", "east"]
    assert region.new_categories[0][1] == pytest.approx(0.2, abs=0.03)
    # Each unseen category is its own entry: the distance is west's share, not west + east.
    assert region.distance == pytest.approx(0.2, abs=0.03)
    assert any("outside the baseline's categories" in note for note in region.notes)


def test_categories_beyond_the_kept_ones_are_compared_as_one(baseline: dict[str, Any]) -> None:
    del baseline  # this test builds its own
    rng = np.random.default_rng(14)
    codes = np.array([f"c{i:02d}" for i in range(40)], dtype=object)
    schema = {"features": [{"name": "code", "type": "categorical"}]}
    built = drift.build_baseline(
        pd.DataFrame({"code": rng.choice(codes, 4000)}), schema, max_categories=10
    )
    summary = built["features"][0]["categorical"]
    assert len(summary["counts"]) == 10 and summary["distinct"] == 40
    assert summary["other_count"] == 4000 - sum(summary["counts"].values())
    same = drift.compare(built, pd.DataFrame({"code": rng.choice(codes, 3000)}))
    assert same.features[0].verdict == "ok"
    rare = [c for c in codes if c not in summary["counts"]]
    skewed = drift.compare(built, pd.DataFrame({"code": rng.choice(rare, 3000)}))
    assert skewed.features[0].verdict == "drift"
    assert skewed.features[0].distance == pytest.approx(1 - summary["other_count"] / 4000, abs=0.05)


def test_missing_and_extra_columns(baseline: dict[str, Any]) -> None:
    rng = np.random.default_rng(15)
    frame = records(rng, 500).drop(columns=["plan"])
    frame["churned"] = 0  # the label and the excluded columns are expected, not extra
    frame["customer_id"] = 1
    frame["surprise"] = 1.0
    report = drift.compare(baseline, frame)
    assert report.missing_columns == ("plan",)
    assert report.extra_columns == ("surprise",)
    assert by_name(report)["plan"].verdict == "missing column"
    assert report.drifted and report.drifted_features == ("plan",)
    assert report.checks == 2 * (len(NAMES) - 1)  # no score, no missing column
    # A missing column is a schema problem: flagged whatever the sample size.
    assert drift.compare(baseline, frame.iloc[:3]).missing_columns == ("plan",)


def test_completeness_drop_is_flagged(baseline: dict[str, Any]) -> None:
    rng = np.random.default_rng(16)
    frame = records(rng, 1000)
    frame.loc[rng.random(1000) < 0.4, "age"] = np.nan
    frame.loc[:, "plan"] = None  # none left: completeness, the distribution is not checked
    report = drift.compare(baseline, frame)
    age, plan = by_name(report)["age"], by_name(report)["plan"]
    assert age.verdict == "drift" and age.reasons == ("completeness",)
    assert age.completeness_baseline == 1.0
    assert age.completeness_now == pytest.approx(0.6, abs=0.05)
    assert plan.verdict == "drift" and plan.reasons == ("completeness",)
    assert plan.completeness_now == 0.0 and plan.distance is None and plan.threshold is None
    assert set(report.drifted_features) == {"age", "plan"}


def test_type_problems(baseline: dict[str, Any]) -> None:
    rng = np.random.default_rng(17)
    frame = records(rng, 400).astype({"age": object, "visits": object})
    frame["age"] = rng.choice(["young", "old"], 400)  # text where numbers belong
    visits = frame["visits"].to_numpy(dtype=object, copy=True)
    visits[:10] = "many"  # a few: counted as missing
    frame["visits"] = visits
    report = drift.compare(baseline, frame)
    age, visits_result = by_name(report)["age"], by_name(report)["visits"]
    assert age.verdict == "type mismatch" and "type" in age.reasons
    assert age.notes[0] == "400 of 400 given values are not numbers"
    assert visits_result.verdict == "ok"
    assert visits_result.notes == ("10 of 400 given values are not numbers",)
    assert visits_result.completeness_now == pytest.approx(390 / 400)
    assert report.drifted_features == ("age",)


def test_score_drift(baseline: dict[str, Any]) -> None:
    rng = np.random.default_rng(18)
    report = drift.compare(baseline, records(rng, 2000), rng.beta(5.0, 2.0, 2000))
    assert report.score is not None and report.score.kind == "score"
    assert report.score.verdict == "drift"
    assert report.drifted_features == (drift.SCORE_NAME,)
    no_scores = drift.build_baseline(records(rng, 500), SCHEMA)
    compared = drift.compare(no_scores, records(rng, 500), rng.random(500))
    assert compared.score is None and compared.notes == ("the baseline has no scores",)


def test_no_traffic_is_no_data_not_drift(baseline: dict[str, Any]) -> None:
    for frame in (records(np.random.default_rng(0), 0), pd.DataFrame()):
        report = drift.compare(baseline, frame, np.array([]))
        assert report.status == "no data"
        assert not report.drifted and report.drift_score is None
        assert report.rows == 0 and report.features == ()
        assert report.lines() == ["no data: 0 records checked"]
        as_dict = json.loads(json.dumps(report.to_dict(), allow_nan=False))
        assert as_dict["status"] == "no data" and as_dict["drifted"] is False


def test_text_records_compare_like_typed_records(baseline: dict[str, Any]) -> None:
    """Captured CSV read as text (empty cells, number text) gives the typed frame's result."""
    rng = np.random.default_rng(19)
    typed = records(rng, 800)
    text = typed.astype(object).where(typed.notna(), "").astype(str)
    text.loc[3, "member"] = "true"  # the spellings the endpoint accepts
    text.loc[4, "income"] = "NA"
    typed.loc[3, "member"] = 1.0
    typed.loc[4, "income"] = np.nan
    assert text["age"].dtype != np.float32
    assert by_name(drift.compare(baseline, text)) == by_name(drift.compare(baseline, typed))


def test_numbers_are_compared_at_float32_precision() -> None:
    """A baseline of float32 0.1/0.2/0.3 and the text "0.1" (float64 0.1) agree: no jump."""
    rng = np.random.default_rng(20)
    steps = np.array([0.1, 0.2, 0.3])
    schema = {"features": [{"name": "step", "type": "numeric"}]}
    built = drift.build_baseline(
        pd.DataFrame({"step": rng.choice(steps, 3000).astype(np.float32)}), schema
    )
    text = pd.DataFrame({"step": rng.choice(["0.1", "0.2", "0.3"], 3000)})
    result = drift.compare(built, text).features[0]
    assert result.verdict == "ok" and result.distance is not None and result.distance < 0.05


# --------------------------------------------------------------------------------------------
# The report


def test_report_round_trips_through_json(baseline: dict[str, Any]) -> None:
    rng = np.random.default_rng(21)
    frame = records(rng, 600).drop(columns=["member"])
    frame["region"] = "mars"
    frame["extra"] = "x"
    report = drift.compare(baseline, frame, scores_for(rng, 600))
    as_dict = report.to_dict()
    text = json.dumps(as_dict, allow_nan=False)
    assert json.loads(text) == as_dict
    assert as_dict["status"] == "drift" and as_dict["drifted"] is True
    assert as_dict["missing_columns"] == ["member"] and as_dict["extra_columns"] == ["extra"]
    region = next(f for f in as_dict["features"] if f["name"] == "region")
    assert region["new_categories"] == [{"value": "mars", "share": 1.0}]
    assert region["distance"] == 1.0
    assert as_dict["score"]["verdict"] == "ok"
    assert set(as_dict["settings"]) == {
        "threshold",
        "completeness_threshold",
        "min_rows",
        "alpha",
        "checks",
        "critical_value",
    }


def test_lines_are_one_aligned_line_per_feature(baseline: dict[str, Any]) -> None:
    rng = np.random.default_rng(22)
    frame = records(rng, 1000).drop(columns=["plan"])
    frame["age"] += 20.0
    report = drift.compare(baseline, frame, scores_for(rng, 1000))
    lines = report.lines()
    assert [line.split()[0] for line in lines] == [*NAMES, "predicted"]
    width = len(drift.SCORE_NAME)
    assert lines[0].startswith("age" + " " * (width - 1) + "0.") and " > 0.100  drift" in lines[0]
    assert lines[4].startswith("plan") and lines[4].split()[1:] == ["-", "missing", "column"]
    assert "<= 0.100  ok" in lines[1]
    # Name, distance, threshold and verdict columns line up.
    verdict_column = width + 2 + 5 + 2 + 8 + 2
    expected = [*(r.verdict for r in report.results)]
    assert [line[verdict_column:].split("  (")[0] for line in lines] == expected
    assert {line[width + 2 : width + 7] for line in lines if "missing" in line} == {"    -"}
    assert {line[width + 3] for line in lines if "missing" not in line} == {"."}


def test_compare_refuses_bad_arguments(baseline: dict[str, Any]) -> None:
    frame = records(np.random.default_rng(0), 10)
    with pytest.raises(ValueError, match="format_version"):
        drift.compare({**baseline, "format_version": 99}, frame)
    with pytest.raises(ValueError, match="min_rows"):
        drift.compare(baseline, frame, min_rows=0)
    with pytest.raises(ValueError, match="alpha"):
        drift.compare(baseline, frame, alpha=0.0)


# --------------------------------------------------------------------------------------------
# Shipped alone


def test_module_imports_only_the_standard_library_numpy_and_pandas(tmp_path: Path) -> None:
    source = Path(drift.__file__)
    allowed = set(sys.stdlib_module_names) | {"numpy", "pandas", "__future__"}
    imported = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add((node.module or "").split(".")[0])
    assert imported <= allowed, imported - allowed
    # A copy alone in a folder, in an isolated interpreter (no PYTHONPATH, no current folder).
    shutil.copy(source, tmp_path / "drift.py")
    program = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import numpy as np, pandas as pd, drift\n"
        "frame = pd.DataFrame({'x': np.arange(300.0), 'c': ['a', 'b', 'c'] * 100})\n"
        "schema = {'features': [{'name': 'x', 'type': 'numeric'},"
        " {'name': 'c', 'type': 'categorical'}]}\n"
        "report = drift.compare(drift.build_baseline(frame, schema), frame)\n"
        "assert report.status == 'ok', report.lines()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('pipeline_code', 'tests', 'config', 'stacks', 'components', 'lambdas'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", program],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_missing_markers_are_pandas_defaults_as_the_serving_code_reads_them() -> None:
    # drift.py and tabular_model.py are shipped alone, so each keeps its own copy of the
    # markers Preprocess's pandas reads as missing; they must stay the same set.
    assert tabular_model._MISSING_WORDS | {""} == drift._MISSING_WORDS
    assert {marker.lower() for marker in STR_NA_VALUES} <= drift._MISSING_WORDS
