"""capture: records and scores from endpoint data-capture lines (issue 13)."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from pipeline_code import capture, drift

NAMES = ["age", "plan", "region"]
SCHEMA: dict[str, Any] = {
    "format_version": 1,
    "label_column": "churned",
    "excluded_columns": [],
    "features": [
        {"name": "age", "type": "numeric"},
        {"name": "plan", "type": "categorical"},
        {"name": "region", "type": "categorical"},
    ],
}


def section(
    mode: str, data: Any, content_type: str = "text/csv", encoding: str = "CSV"
) -> dict[str, Any]:
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def line(
    request: dict[str, Any] | None,
    response: dict[str, Any] | None = None,
    inference_id: str | None = "abc",
    time: str = "2026-12-06T10:00:00Z",
) -> str:
    """A capture line in the documented structure."""
    data: dict[str, Any] = {}
    if request is not None:
        data["endpointInput"] = request
    if response is not None:
        data["endpointOutput"] = response
    metadata = {"eventId": "0f3c-event", "inferenceTime": time}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    return json.dumps({"captureData": data, "eventMetadata": metadata, "eventVersion": "0"})


def csv_line(request: str, response: str = "0.93,Yes", **kwargs: Any) -> str:
    return line(section("INPUT", request), section("OUTPUT", response), **kwargs)


def parse(lines: Sequence[str | bytes], max_records: int = 1000) -> capture.CaptureSample:
    return capture.parse_capture_lines(lines, NAMES, max_records=max_records)


def rows(sample: capture.CaptureSample) -> list[list[str | None]]:
    values = sample.frame.astype(object).where(sample.frame.notna(), None).values.tolist()
    return cast(list[list[str | None]], values)


def test_single_csv_record_with_metadata() -> None:
    sample = parse([csv_line("41,basic,north")])
    assert list(sample.frame.columns) == NAMES
    assert rows(sample) == [["41", "basic", "north"]]
    assert sample.scores.tolist() == [0.93]
    assert sample.inference_ids == ["abc"]
    assert sample.event_times == ["2026-12-06T10:00:00Z"]
    assert sample.request_sizes == [1]
    assert (sample.requests, sample.records, sample.malformed) == (1, 1, 0)
    assert not sample.truncated
    assert sample.problems == []


def test_multi_record_request_with_quoted_commas_and_empty_cells() -> None:
    request = '41,"plus, annual",north\r\n,basic,\n\n33,"pro ""x""",south\n'
    sample = parse([csv_line(request, "0.100000,No\n0.500000,Yes\n0.900000,Yes\n")])
    assert rows(sample) == [
        ["41", "plus, annual", "north"],
        [None, "basic", None],
        ["33", 'pro "x"', "south"],
    ]
    assert sample.scores.tolist() == [0.1, 0.5, 0.9]
    assert sample.inference_ids == ["abc"] * 3
    assert sample.request_sizes == [3, 3, 3]  # the id names the request, not one record
    assert sample.records == 3 and sample.requests == 1


def test_header_maps_columns_by_name_in_any_order() -> None:
    request = "region,age,plan\nnorth,41,basic\nsouth,,pro\n"
    sample = parse([csv_line(request, "0.2,No\n0.7,Yes")])
    assert rows(sample) == [["41", "basic", "north"], [None, "pro", "south"]]
    assert sample.scores.tolist() == [0.2, 0.7]


def test_base64_payloads() -> None:
    request = base64.b64encode("52,basic,ost\u00e9\n".encode()).decode()
    response = base64.b64encode(b"0.4,No").decode()
    text = line(
        section("INPUT", request, encoding="BASE64"),
        section("OUTPUT", response, encoding="BASE64"),
    )
    sample = parse([text.encode()])  # bytes lines are read as UTF-8
    assert rows(sample) == [["52", "basic", "ost\u00e9"]]
    assert sample.scores.tolist() == [0.4]


def test_json_requests_and_responses() -> None:
    objects = [{"age": 41, "plan": "basic", "region": "north"}, {"age": None, "plan": "pro"}]
    response = {"predictions": [{"probability": 0.25, "label": "No"}, {"probability": 0.75}]}
    many = line(
        section("INPUT", json.dumps(objects), "application/json", "JSON"),
        section("OUTPUT", json.dumps(response), "application/json", "JSON"),
    )
    single = line(
        section(
            "INPUT",
            json.dumps({"age": 3.5, "plan": "plus", "region": "south"}),
            "application/json",
            "JSON",
        ),
        section(
            "OUTPUT",
            base64.b64encode(b'{"predictions": [{"probability": 0.5}]}').decode(),
            "application/json",
            "BASE64",
        ),
        inference_id=None,
    )
    sample = parse([many, single])
    assert rows(sample) == [
        ["41", "basic", "north"],
        [None, "pro", None],
        ["3.5", "plus", "south"],
    ]
    assert sample.scores.tolist() == [0.25, 0.75, 0.5]
    assert sample.inference_ids == ["abc", "abc", None]
    assert sample.requests == 2


def test_bare_probability_responses_of_older_models() -> None:
    sample = parse([csv_line("41,basic,north\n50,pro,south", "0.12\n0.88\n")])
    assert sample.scores.tolist() == [0.12, 0.88]


def test_mismatched_counts_keep_records_with_missing_scores() -> None:
    sample = parse(
        [
            csv_line("41,basic,north\n50,pro,south", "0.12,No"),
            line(section("INPUT", "60,plus,east")),  # no response captured
            csv_line("70,basic,west", "0.3,No"),
        ]
    )
    assert sample.records == 4
    assert sample.unpaired_requests == 2
    assert [math.isnan(score) for score in sample.scores] == [True, True, True, False]
    assert sample.scores[-1] == 0.3
    assert len(sample.problems) == 2
    assert "1 score(s) for 2 record(s)" in sample.problems[0]
    assert sample.problems[1].startswith("line 2: no response")


def test_malformed_lines_are_counted_and_skipped() -> None:
    good = csv_line("41,basic,north")
    bad: list[str | bytes] = [
        "{not json",
        b"\xff\xfe",
        json.dumps([1, 2]),
        json.dumps({"captureData": {}}),
        line(section("INPUT", "!!!not base64!!!", encoding="BASE64")),
        line(section("INPUT", "41,basic,north", encoding="GZIP")),
        line(section("INPUT", "{broken", "application/json", "JSON")),
        line(section("INPUT", "42", "application/json", "JSON")),
        csv_line("41,basic,north", "high,Yes"),
        line(section("INPUT", "1,2,3"), section("OUTPUT", '{"scores": []}', "application/json")),
    ]
    sample = parse([good, "", "   ", *bad, good])
    assert sample.malformed == len(bad)
    assert sample.requests == 2 and sample.records == 2
    assert len(sample.problems) == capture.MAX_PROBLEMS
    assert sample.problems[0].startswith("line 4: malformed capture: not JSON")


def test_wrong_field_counts_skip_records_and_their_scores() -> None:
    request = "41,basic,north\n50,pro\n60,plus,east,extra\n70,basic,west\n"
    sample = parse([csv_line(request, "0.1,No\n0.2,No\n0.3,No\n0.4,No")])
    assert rows(sample) == [["41", "basic", "north"], ["70", "basic", "west"]]
    assert sample.scores.tolist() == [0.1, 0.4]
    assert sample.skipped_records == 2
    assert sample.problems == [
        "line 1: record 2 skipped: 2 field(s), expected 3",
        "line 1: record 3 skipped: 4 field(s), expected 3",
    ]
    json_request = line(
        section("INPUT", json.dumps([{"age": 1}, 5]), "application/json", "JSON"),
        section("OUTPUT", "0.1\n0.2"),
    )
    assert parse([json_request]).skipped_records == 1


def test_max_records_bounds_the_work() -> None:
    lines = [csv_line("41,basic,north\n42,basic,north", "0.1\n0.2") for _ in range(5)]
    sample = parse(lines, max_records=3)
    assert sample.records == 3 and sample.truncated
    assert sample.scores.tolist() == [0.1, 0.2, 0.1]
    exact = parse(lines[:2], max_records=4)
    assert exact.records == 4 and not exact.truncated
    assert parse([*lines[:2], "", ""], max_records=4).truncated is False
    with pytest.raises(ValueError, match="max_records"):
        parse(lines, max_records=0)
    with pytest.raises(ValueError, match="distinct"):
        capture.parse_capture_lines(lines, ["age", "age"], max_records=3)


def test_no_traffic_is_an_empty_frame_with_the_feature_columns() -> None:
    sample = parse([])
    assert list(sample.frame.columns) == NAMES and len(sample.frame) == 0
    assert sample.scores.shape == (0,)
    assert (sample.requests, sample.records, sample.truncated) == (0, 0, False)


def test_capture_keys_since_filters_and_orders_hours() -> None:
    prefix = "data-capture/prod/churn-prod/AllTraffic"
    keys = [
        f"{prefix}/2026/12/06/10/b.jsonl",
        f"{prefix}/2026/12/06/09/z.jsonl",
        f"{prefix}/2026/12/05/23/a.jsonl",
        f"{prefix}/2026/12/06/10/a.jsonl",
        f"{prefix}/2026/12/07/00/c.jsonl",
        f"{prefix}/2026/12/07/00/c.jsonl",
        f"{prefix}/2026/12/06/11/notes.txt",
        f"{prefix}/2026/12/6/11/short.jsonl",
        "other/2027/01/01/00/x.jsonl",
        "a.jsonl",
    ]
    assert capture.capture_keys_since(keys, "2026/12/06/10") == [
        f"{prefix}/2026/12/06/10/a.jsonl",
        f"{prefix}/2026/12/06/10/b.jsonl",
        f"{prefix}/2026/12/07/00/c.jsonl",
        "other/2027/01/01/00/x.jsonl",
    ]
    assert capture.capture_keys_since(keys, "2026/12/07/01") == ["other/2027/01/01/00/x.jsonl"]
    with pytest.raises(ValueError, match="yyyy/mm/dd/hh"):
        capture.capture_keys_since(keys, "2026-12-06")


def test_a_parsed_sample_feeds_drift_compare() -> None:
    rng = np.random.default_rng(13)
    n = 400
    training = pd.DataFrame(
        {
            "age": rng.normal(40.0, 10.0, n).round(1),
            "plan": rng.choice(["basic", "plus, annual", "pro"], n),
            "region": rng.choice(["north", "south"], n),
        }
    )
    baseline = drift.build_baseline(training, SCHEMA, rng.beta(2.0, 5.0, n))
    lines = []
    for start in range(0, 300, 3):
        chunk = training.iloc[start : start + 3]
        request = chunk.to_csv(index=False, header=start == 0)
        response = "\n".join(f"{p:.6f},No" for p in rng.beta(2.0, 5.0, len(chunk)))
        lines.append(csv_line(request, response, inference_id=f"id-{start}"))
    sample = parse(lines)
    assert sample.records == 300 and sample.problems == []
    report = drift.compare(baseline, sample.frame, sample.scores)
    assert report.rows == 300
    assert report.status == "ok", [(r.name, r.verdict) for r in report.results]
    assert report.score is not None and report.score.verdict == "ok"


@pytest.mark.parametrize(
    "text",
    ["41,basic,north", "41,basic,north\n", "a,,c\n\n1,2,3\n", ",,", " a , b ,c", "1;2,3\n4"],
)
def test_unquoted_csv_splits_as_the_csv_module_does(text: str) -> None:
    expected = [fields for fields in csv.reader(io.StringIO(text)) if fields]
    assert capture._csv_lines(text) == expected
