"""Endpoint data capture: the records a SageMaker endpoint received, and its scores on them.

One self-contained file (standard library, NumPy and pandas; nothing from this repository), so
that it can be shipped alone beside ``drift.py`` into a Lambda function or a processing job.

An instance endpoint with data capture writes JSON Lines files under
``<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``, one capture per line::

    {"captureData": {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                          "data": "...", "encoding": "CSV"},
        "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                           "data": "0.93,Yes", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "...", "inferenceId": "...",
                       "inferenceTime": "2026-12-06T10:00:00Z"},
     "eventVersion": "0"}

``parse_capture_lines`` turns such lines into a ``CaptureSample``: the requests' raw records
(a DataFrame of text by feature name, the input ``drift.compare`` takes) and the model's
scores on them. The payloads follow the model contract (docs/model-contract.md, section 3):

* ``encoding`` ``CSV`` or ``JSON``: ``data`` is the payload text; ``BASE64``: ``data`` is
  decoded, then read as UTF-8.
* Requests: ``text/csv`` (any type without ``json``): one record per line, split with the
  ``csv`` module (quoted commas kept), empty cells missing (None); a first line whose fields
  are exactly the feature names, in any order, is a header and columns are matched by name.
  ``application/json`` (or encoding ``JSON``): one object or a list of objects keyed by
  feature name (absent keys and nulls missing; values kept as text).
* Responses: CSV lines ``<probability>,<label>`` or a bare ``<probability>`` (older models);
  JSON ``{"predictions": [{"probability": p, "label": l}, ...]}``. Scores pair with the
  request's records by position.

What is not trusted is counted, never raised:

* ``malformed``: capture lines skipped whole (not JSON, no request, an unknown encoding, bad
  BASE64 or UTF-8, a request or response that cannot be parsed at all);
* ``skipped_records``: records of a parsed request skipped (a wrong number of fields, a JSON
  item that is not an object); their scores are dropped with them;
* ``unpaired_requests``: requests whose records are kept with NaN scores, because the response
  is absent or holds a different number of scores than the request has records.

``problems`` keeps the first ``MAX_PROBLEMS`` reasons, each naming its line. Work is bounded by
``max_records``: parsing stops once that many records are kept (``truncated`` is set when
input was left unread). Blank lines are ignored.

``capture_keys_since`` selects the capture files of the hours since the last check.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

MAX_PROBLEMS = 10

Row = list[str | None]


@dataclass
class CaptureSample:
    """Captured records and scores (see the module's docstring)."""

    frame: pd.DataFrame
    scores: npt.NDArray[np.float64]
    inference_ids: list[str | None]
    event_times: list[str | None]
    # Per record: how many records its request held (an inference id names one record only
    # when its request held one, so only those can be joined with ground truth).
    request_sizes: list[int] = field(default_factory=list)
    requests: int = 0
    records: int = 0
    malformed: int = 0
    skipped_records: int = 0
    unpaired_requests: int = 0
    truncated: bool = False
    problems: list[str] = field(default_factory=list)


class _MalformedError(Exception):
    """A capture line that cannot be used at all (internal: counted, never raised out)."""


@dataclass
class _Capture:
    """One parsed capture line: its rows (None: skipped), scores (None: unpaired), metadata."""

    rows: list[Row | None]
    scores: list[float] | None
    inference_id: str | None
    event_time: str | None
    reasons: list[str]


@dataclass
class _Collector:
    """The sample being built."""

    names: list[str]
    max_records: int
    rows: list[Row] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    inference_ids: list[str | None] = field(default_factory=list)
    event_times: list[str | None] = field(default_factory=list)
    request_sizes: list[int] = field(default_factory=list)
    requests: int = 0
    malformed: int = 0
    skipped_records: int = 0
    unpaired_requests: int = 0
    truncated: bool = False
    problems: list[str] = field(default_factory=list)

    def problem(self, number: int, reason: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"line {number}: {reason}")

    def add(self, number: int, capture: _Capture) -> None:
        self.requests += 1
        for reason in capture.reasons:
            self.problem(number, reason)
        scores = capture.scores
        if scores is None or len(scores) != len(capture.rows):
            self.unpaired_requests += 1
            self.problem(number, _unpaired_reason(scores, len(capture.rows)))
            scores = [math.nan] * len(capture.rows)
        for row, score in zip(capture.rows, scores, strict=True):
            if row is None:
                self.skipped_records += 1
            elif len(self.rows) >= self.max_records:
                self.truncated = True
                return
            else:
                self.rows.append(row)
                self.scores.append(score)
                self.inference_ids.append(capture.inference_id)
                self.event_times.append(capture.event_time)
                self.request_sizes.append(len(capture.rows))

    def sample(self) -> CaptureSample:
        frame = pd.DataFrame(self.rows, columns=self.names, dtype=object)
        if not self.rows:
            frame = pd.DataFrame({name: pd.Series([], dtype=object) for name in self.names})
        return CaptureSample(
            frame=frame,
            scores=np.asarray(self.scores, dtype=np.float64),
            inference_ids=self.inference_ids,
            event_times=self.event_times,
            request_sizes=self.request_sizes,
            requests=self.requests,
            records=len(self.rows),
            malformed=self.malformed,
            skipped_records=self.skipped_records,
            unpaired_requests=self.unpaired_requests,
            truncated=self.truncated,
            problems=self.problems,
        )


def _unpaired_reason(scores: list[float] | None, records: int) -> str:
    if scores is None:
        return "no response captured: scores left missing"
    return f"{len(scores)} score(s) for {records} record(s): scores left missing"


def parse_capture_lines(
    lines: Iterable[str | bytes], feature_names: Sequence[str], *, max_records: int
) -> CaptureSample:
    """The records and scores of capture lines (JSON Lines), at most ``max_records`` records.

    ``feature_names`` are the model's features in training order (the columns of ``frame``).
    Bad input is counted and skipped, never raised (see the module's docstring).
    """
    if max_records < 1:
        raise ValueError(f"max_records must be at least 1, not {max_records}")
    names = [str(name) for name in feature_names]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"feature_names must be distinct and not empty: {names}")
    collector = _Collector(names=names, max_records=max_records)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if collector.truncated or len(collector.rows) >= max_records:
            collector.truncated = True
            break
        try:
            capture = _parse_line(line, names)
        except _MalformedError as error:
            collector.malformed += 1
            collector.problem(number, f"malformed capture: {error}")
            continue
        collector.add(number, capture)
    return collector.sample()


def _parse_line(line: str | bytes, names: list[str]) -> _Capture:
    record = _load_json(line)
    data = _mapping(record.get("captureData"), "captureData")
    request = _mapping(data.get("endpointInput"), "endpointInput")
    rows, reasons = _request_rows(*_payload(request), names)
    response = data.get("endpointOutput")
    scores = None if response is None else _response_scores(*_payload(_mapping(response, "")))
    metadata = record.get("eventMetadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    return _Capture(
        rows=rows,
        scores=scores,
        inference_id=_text_or_none(metadata.get("inferenceId")),
        event_time=_text_or_none(metadata.get("inferenceTime")),
        reasons=reasons,
    )


def _load_json(line: str | bytes) -> dict[str, Any]:
    try:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        record = json.loads(text)
    except (UnicodeDecodeError, ValueError) as error:
        raise _MalformedError(f"not JSON ({error})") from None
    return _mapping(record, "the line")


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _MalformedError(f"{name or 'endpointOutput'} is not an object")
    return value


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _payload(section: dict[str, Any]) -> tuple[Any, bool]:
    """A capture section's payload (text, or an embedded JSON value) and whether it is JSON."""
    encoding = str(section.get("encoding", "CSV")).upper()
    content_type = str(section.get("observedContentType", "")).lower()
    data = section.get("data")
    is_json = encoding == "JSON" or "json" in content_type
    if encoding == "JSON" and not isinstance(data, str):
        return data, True
    if not isinstance(data, str):
        raise _MalformedError(f"{section.get('mode', 'payload')} data is not text")
    if encoding == "BASE64":
        try:
            return base64.b64decode(data, validate=True).decode("utf-8"), is_json
        except (binascii.Error, UnicodeDecodeError) as error:
            raise _MalformedError(f"bad BASE64 payload ({error})") from None
    if encoding not in ("CSV", "JSON"):
        raise _MalformedError(f"unknown encoding {encoding!r}")
    return data, is_json


# Requests


def _request_rows(
    payload: Any, is_json: bool, names: list[str]
) -> tuple[list[Row | None], list[str]]:
    if is_json:
        return _json_rows(_json_value(payload), names)
    return _csv_rows(payload, names)


def _json_value(payload: Any) -> Any:
    if not isinstance(payload, str):
        return payload
    try:
        return json.loads(payload)
    except ValueError as error:
        raise _MalformedError(f"JSON payload does not parse ({error})") from None


def _json_rows(value: Any, names: list[str]) -> tuple[list[Row | None], list[str]]:
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise _MalformedError("JSON request is neither an object nor a list of objects")
    rows: list[Row | None] = []
    reasons = []
    for index, item in enumerate(items, start=1):
        if isinstance(item, dict):
            rows.append([_json_cell(item.get(name)) for name in names])
        else:
            rows.append(None)
            reasons.append(f"record {index} skipped: not a JSON object")
    return rows, reasons


def _json_cell(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)


def _csv_lines(text: str) -> list[list[str]]:
    if '"' not in text and "\r" not in text and "\0" not in text:
        # Unquoted lines are their text split at the commas, exactly what csv.reader returns
        # for them, several times faster for the typical one-record request.
        return [line.split(",") for line in text.split("\n") if line]
    try:
        return [fields for fields in csv.reader(io.StringIO(text)) if fields]
    except csv.Error as error:
        raise _MalformedError(f"CSV payload does not parse ({error})") from None


def _csv_rows(text: str, names: list[str]) -> tuple[list[Row | None], list[str]]:
    lines = _csv_lines(text)
    order = list(range(len(names)))
    if lines and len(lines[0]) == len(names) and set(lines[0]) == set(names):
        order = [lines[0].index(name) for name in names]
        lines = lines[1:]
    rows: list[Row | None] = []
    reasons = []
    for index, fields in enumerate(lines, start=1):
        if len(fields) == len(names):
            rows.append([fields[position] or None for position in order])
        else:
            rows.append(None)
            reasons.append(f"record {index} skipped: {len(fields)} field(s), expected {len(names)}")
    return rows, reasons


# Responses


def _score(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _MalformedError(f"score {value!r} is not a number")
    try:
        return float(value)
    except ValueError:
        raise _MalformedError(f"score {value!r} is not a number") from None


def _response_scores(payload: Any, is_json: bool) -> list[float]:
    if is_json:
        return _json_scores(_json_value(payload))
    scores = []
    for fields in _csv_lines(payload):
        if len(fields) > 2:
            raise _MalformedError(f"response line has {len(fields)} fields")
        scores.append(_score(fields[0]))
    return scores


def _json_scores(value: Any) -> list[float]:
    predictions = value.get("predictions") if isinstance(value, dict) else None
    if not isinstance(predictions, list):
        raise _MalformedError('JSON response has no "predictions" list')
    return [
        _score(item.get("probability") if isinstance(item, dict) else item) for item in predictions
    ]


# Capture files

_HOUR = re.compile(r"\d{4}/\d{2}/\d{2}/\d{2}")


def capture_keys_since(keys: Iterable[str], since: str) -> list[str]:
    """The capture files (``.../yyyy/mm/dd/hh/<file>.jsonl``) of hour ``since`` and later.

    ``since`` is an hour ``"yyyy/mm/dd/hh"`` (UTC, as in the keys). Keys of another layout are
    left out; the result is sorted oldest hour first (then by key), without duplicates.
    """
    if not _HOUR.fullmatch(since):
        raise ValueError(f'since must be an hour "yyyy/mm/dd/hh", not {since!r}')
    selected = []
    for key in set(keys):
        parts = key.split("/")
        hour = "/".join(parts[-5:-1])
        if len(parts) >= 5 and key.endswith(".jsonl") and _HOUR.fullmatch(hour) and hour >= since:
            selected.append((hour, key))
    return [key for _, key in sorted(selected)]
