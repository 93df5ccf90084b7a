"""Distributed training: N training instances train one model on their shards of the train
split, with the validation split whole on each; only the first host writes the model.

Two "instances" run on 127.0.0.1: the first in this process, the second in a child forked by
a multiprocessing fork server that has imported this module once, so a run takes a fraction of
a second rather than a fresh interpreter's seconds of importing pandas and XGBoost. (A child
forked from this process itself could hang: once XGBoost has run OpenMP threads here, OpenMP
in a forked child may wait for threads that were not copied.) Each host trains with one
thread, as two instances on this machine's two cores would otherwise contend.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline_code import tabular_model
from tests.pipeline_code.test_split_parts import HEADER, csv_text, write_parts
from tests.pipeline_code.test_tabular_model import FAST, make_rows, write_split

_PROCESSES = multiprocessing.get_context("forkserver")
_PROCESSES.set_forkserver_preload([__name__])

HYPERPARAMETERS = {**FAST, "nthread": 1, "num_round": 40}
ONLY_ON_B = "lifetime"
# Seconds a host waits for the other; the runs here take well under one.
TIMEOUT = 20


def free_port_pair() -> int:
    """A port p with p and p + 1 free: the tracker's and its ready signal's."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        with contextlib.suppress(OSError), socket.socket() as other:
            other.bind(("127.0.0.1", port + 1))
            return port
    raise AssertionError("no two consecutive free ports")


@dataclass(frozen=True)
class Outcome:
    code: int
    output: str


def host_args(root: Path, host: str, port: int, timeout: int = TIMEOUT) -> list[str]:
    (root / host).mkdir(parents=True, exist_ok=True)
    hyperparameters = root / "hp.json"
    text = json.dumps(HYPERPARAMETERS)
    # Written once: host b's process may already be reading it when host a's arguments are
    # made, and rewriting it then (truncate, write) let b read an empty file on a busy machine.
    if not hyperparameters.is_file() or hyperparameters.read_text(encoding="utf-8") != text:
        hyperparameters.write_text(text, encoding="utf-8")
    return [
        f"--train-dir={root / host / 'train'}",
        f"--validation-dir={root / 'validation'}",
        f"--model-dir={root / host / 'model'}",
        f"--hyperparameters={hyperparameters}",
        f"--failure-file={root / host / 'failure'}",
        # Used only when the folder exists, as /opt/ml/checkpoints with managed spot training.
        f"--checkpoint-dir={root / host / 'checkpoints'}",
        "--hosts=a,b",
        f"--current-host={host}",
        f"--tracker-address=127.0.0.1:{port}",
        f"--peer-timeout={timeout}",
    ]


def run_here(args: list[str]) -> Outcome:
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        code = tabular_model.main(args)
    return Outcome(code, output.getvalue())


def _child(args: list[str], log: str, before: Callable[[], None] | None) -> None:
    with open(log, "w", encoding="utf-8") as stream:
        os.dup2(stream.fileno(), 1)
        os.dup2(stream.fileno(), 2)
        sys.stdout = sys.stderr = stream
        if before is not None:
            before()
        code = tabular_model.main(args)
        stream.flush()
    os._exit(code)


@contextlib.contextmanager
def child_host(
    args: list[str], log: Path, before: Callable[[], None] | None = None
) -> Iterator[Callable[[], Outcome]]:
    """Host b in its own process; the block runs host a, then asks for b's outcome."""
    process = _PROCESSES.Process(target=_child, args=(args, str(log), before))
    process.start()

    def outcome() -> Outcome:
        process.join(TIMEOUT + 10)
        assert process.exitcode is not None, "host b did not finish"
        return Outcome(process.exitcode, log.read_text(encoding="utf-8"))

    try:
        yield outcome
    finally:
        if process.is_alive():
            process.kill()
            process.join()


def run_two_hosts(root: Path, before_b: Callable[[], None] | None = None) -> dict[str, Outcome]:
    port = free_port_pair()
    with child_host(host_args(root, "b", port), root / "b.log", before_b) as outcome_b:
        outcome_a = run_here(host_args(root, "a", port))
        return {"a": outcome_a, "b": outcome_b()}


def rows_with_a_category_only_on_b(seed: int) -> pd.DataFrame:
    rows = make_rows(400, seed=seed)
    rows.loc[:39, "contract"] = ONLY_ON_B
    return rows


def auc_on(model_dir: Path, rows: pd.DataFrame) -> float:
    # Imported here: the fork server imports this module, and its children need no sklearn.
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    model = tabular_model.model_fn(str(model_dir))
    scores = tabular_model.predict_proba(model, rows.drop(columns="churned"))
    return float(roc_auc_score(rows["churned"], scores))


def test_two_processes_train_as_two_instances(tmp_path: Path) -> None:
    """One test, so that one fork server (seconds of imports) serves its three runs whichever
    pytest worker runs it."""
    trained_together(tmp_path / "together")
    every_host_resumes_from_the_first_hosts_checkpoint(tmp_path / "together")
    a_host_without_train_rows_fails_every_host_naming_it(tmp_path / "empty")
    a_peer_that_dies_ends_the_others_with_an_error(tmp_path / "dies")


def trained_together(root: Path) -> None:
    write_split(root / "validation", "validation", make_rows(300, seed=2))
    # Each host's shard as a sharded channel delivers it: part files, no schema.json.
    write_parts(root / "a" / "train", "train", csv_text(make_rows(400, seed=1)), [150], schema=None)
    b_rows = csv_text(rows_with_a_category_only_on_b(seed=3))
    write_parts(root / "b" / "train", "train", b_rows, [200, 200], schema=None)

    outcomes = run_two_hosts(root)

    assert outcomes["a"].code == 0, outcomes["a"].output
    assert outcomes["b"].code == 0, outcomes["b"].output
    assert "host a (rank 0 of 2): Trained" in outcomes["a"].output
    assert f"wrote {root / 'a' / 'model'}" in outcomes["a"].output
    assert "host b (rank 1 of 2): Trained" in outcomes["b"].output
    assert f"wrote nothing to {root / 'b' / 'model'}: the first host writes" in (
        outcomes["b"].output
    )
    assert not (root / "b" / "model").exists()
    assert no_scratch_folders(root)
    # Both hosts stopped at the same round and chose the same cut-off.
    assert (
        outcomes["a"].output.split("Trained")[1].split(";")[:2]
        == (outcomes["b"].output.split("Trained")[1].split(";")[:2])
    )
    schema = json.loads((root / "a" / "model" / "model-schema.json").read_text())
    assert ONLY_ON_B in schema["categories"]["contract"]
    assert schema["categories"]["contract"] == sorted(schema["categories"]["contract"])
    predicts_as_the_single_host_model_of_the_same_rows(root)
    the_replicated_validation_split_gives_the_metric_of_one_copy(root)


def every_host_resumes_from_the_first_hosts_checkpoint(root: Path) -> None:
    """After a spot interruption every host resumes from the first host's checkpoint (sent to
    the others, whose own folders may lack it), and only the first host writes checkpoints."""
    for host in ("a", "b"):
        (root / host / "checkpoints").mkdir()
    model = root / "a" / "model"
    (model / "xgboost-model").rename(root / "a" / "checkpoints" / "xgboost-checkpoint.json")
    shutil.rmtree(model)

    outcomes = run_two_hosts(root)

    assert [outcomes[host].code for host in ("a", "b")] == [0, 0], outcomes
    resumed = [
        line
        for host in ("a", "b")
        for line in outcomes[host].output.splitlines()
        if line.startswith("Resuming from checkpoint")
    ]
    # Both from the same checkpoint: "Resuming from checkpoint <what> (N rounds done)".
    assert len(resumed) == 2
    assert resumed[0] == resumed[1]
    assert "xgboost-checkpoint.json of the first host a (" in resumed[0]
    assert list((root / "b" / "checkpoints").iterdir()) == []
    assert (model / "xgboost-model").is_file()
    assert not (root / "b" / "model").exists()


def predicts_as_the_single_host_model_of_the_same_rows(root: Path) -> None:
    alone = root / "alone"
    all_rows = pd.concat([make_rows(400, seed=1), rows_with_a_category_only_on_b(seed=3)])
    write_split(alone / "train", "train", all_rows)
    (alone / "hp.json").write_text(json.dumps(HYPERPARAMETERS))
    code = tabular_model.main(
        [
            f"--train-dir={alone / 'train'}",
            f"--validation-dir={root / 'validation'}",
            f"--model-dir={alone / 'model'}",
            f"--hyperparameters={alone / 'hp.json'}",
            "--checkpoint-dir=",
        ]
    )
    assert code == 0
    held_out = make_rows(2000, seed=9)
    held_out.loc[:99, "contract"] = ONLY_ON_B
    together, single = auc_on(root / "a" / "model", held_out), auc_on(alone / "model", held_out)
    # The same rows and settings; the hosts merge their quantile sketches, so the histogram
    # bins (and with them a few splits) may differ from one host's sketch of all rows, which
    # moves AUC by far less than 0.01 on this signal (0.93 alone).
    assert single > 0.9
    assert abs(together - single) < 0.01, (together, single)


def the_replicated_validation_split_gives_the_metric_of_one_copy(root: Path) -> None:
    """Early stopping saw the metric XGBoost summed over both hosts' copies of the validation
    split: it is the metric of one copy, recomputed here in a single process."""
    model = tabular_model.model_fn(str(root / "a" / "model"))
    validation = tabular_model.read_split(root / "validation", "validation")
    features = tabular_model.encode_features(validation.features, model.schema, model.categories)
    matrix = tabular_model._dmatrix(features, validation.labels)
    best = model.booster.attr("best_score")
    assert best is not None
    # "[0]\tvalidation-logloss:0.123..." for the model cut at its best iteration.
    alone = float(model.booster.eval(matrix, "validation").split("logloss:")[1])
    assert float(best) == pytest.approx(alone, rel=1e-6)


def a_host_without_train_rows_fails_every_host_naming_it(root: Path) -> None:
    write_split(root / "validation", "validation", make_rows(100, seed=2))
    write_parts(root / "a" / "train", "train", csv_text(make_rows(100, seed=1)), [50])
    write_parts(root / "b" / "train", "train", HEADER, [0], schema=None)

    outcomes = run_two_hosts(root)

    for host in ("a", "b"):
        assert outcomes[host].code == 1
        failure = (root / host / "failure").read_text()
        assert failure.startswith(f"host b: {root / 'b' / 'train'}: the part files")
        assert "hold a header but no rows (the train channel is sharded by file" in failure
    assert not (root / "a" / "model").exists()
    assert no_scratch_folders(root)


def no_scratch_folders(root: Path) -> bool:
    """Each host kept its train chunks beside its model folder, and removed them."""
    return not list(root.glob(f"*/{tabular_model.SCRATCH_PREFIX}*"))


def _die_when_training_starts() -> None:
    def die(*args: Any, **kwargs: Any) -> Any:
        os._exit(3)

    tabular_model.train = die  # type: ignore[assignment]


def a_peer_that_dies_ends_the_others_with_an_error(root: Path) -> None:
    write_split(root / "validation", "validation", make_rows(100, seed=2))
    for host, seed in (("a", 1), ("b", 3)):
        write_split(root / host / "train", "train", make_rows(200, seed=seed))

    outcomes = run_two_hosts(root, before_b=_die_when_training_starts)

    assert outcomes["b"].code == 3
    assert outcomes["a"].code == 1
    failure = (root / "a" / "failure").read_text()
    assert failure.startswith("host a (rank 0 of 2): training with the hosts a, b failed")
    assert "Stack trace" not in failure
    assert not (root / "a" / "model").exists()


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("a", "host a (rank 0 of 2): training with the hosts a, b failed"),
        ("b", "the first host's tracker at 127.0.0.1:{port} was not up within 1 s"),
    ],
)
def test_a_host_alone_gives_up_after_the_peer_timeout(
    tmp_path: Path, host: str, fragment: str
) -> None:
    write_split(tmp_path / "validation", "validation", make_rows(50, seed=2))
    write_split(tmp_path / host / "train", "train", make_rows(50, seed=1))
    port = free_port_pair()

    outcome = run_here(host_args(tmp_path, host, port, timeout=1))

    assert outcome.code == 1
    assert fragment.format(port=port) in (tmp_path / host / "failure").read_text()


def parse(*args: str) -> Any:
    return tabular_model.build_parser().parse_args(list(args))


def test_one_host_or_no_resource_config_trains_alone(tmp_path: Path) -> None:
    config = tmp_path / "resourceconfig.json"
    assert tabular_model.cluster_from_args(parse(f"--resource-config={config}")) is None
    config.write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    assert tabular_model.cluster_from_args(parse(f"--resource-config={config}")) is None


def test_the_resource_config_names_the_hosts_and_the_default_tracker(tmp_path: Path) -> None:
    config = tmp_path / "resourceconfig.json"
    config.write_text(json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}))

    cluster = tabular_model.cluster_from_args(parse(f"--resource-config={config}"))

    assert cluster == tabular_model.Cluster(
        hosts=("algo-1", "algo-2"),
        current_host="algo-2",
        tracker_host="algo-1",
        tracker_port=tabular_model.TRACKER_PORT,
        timeout=tabular_model.PEER_TIMEOUT_SECONDS,
    )
    assert cluster.rank == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hosts=a,b"], "--hosts needs --current-host"),
        (["--hosts=a,b", "--current-host=c"], "the current host 'c' is not one of the hosts"),
    ],
)
def test_unusable_host_settings_are_refused(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hyperparameters = tmp_path / "hp.json"
    hyperparameters.write_text(json.dumps(HYPERPARAMETERS))
    code = tabular_model.main([f"--hyperparameters={hyperparameters}", *args])
    assert code == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("value", ["a,,b", "a,a", ""])
def test_a_host_list_must_name_distinct_hosts(value: str) -> None:
    with pytest.raises(SystemExit):
        parse(f"--hosts={value}")


def test_a_resource_config_that_is_not_one_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "resourceconfig.json"
    config.write_text(json.dumps({"hosts": ["algo-1"]}))
    with pytest.raises(tabular_model.ClusterError, match="'hosts' and 'current_host'"):
        tabular_model.cluster_from_args(parse(f"--resource-config={config}"))


def test_a_single_host_with_a_resource_config_gives_todays_model(tmp_path: Path) -> None:
    write_split(tmp_path / "train", "train", make_rows(200, seed=1))
    write_split(tmp_path / "validation", "validation", make_rows(100, seed=2))
    (tmp_path / "hp.json").write_text(json.dumps(HYPERPARAMETERS))
    config = tmp_path / "resourceconfig.json"
    config.write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    models = []
    for name, extra in (("plain", []), ("config", [f"--resource-config={config}"])):
        code = tabular_model.main(
            [
                f"--train-dir={tmp_path / 'train'}",
                f"--validation-dir={tmp_path / 'validation'}",
                f"--model-dir={tmp_path / name}",
                f"--hyperparameters={tmp_path / 'hp.json'}",
                "--checkpoint-dir=",
                *extra,
            ]
        )
        assert code == 0
        models.append((tmp_path / name / "xgboost-model").read_bytes())
    assert models[0] == models[1]
    assert np.isfinite(auc_on(tmp_path / "plain", make_rows(200, seed=4)))
