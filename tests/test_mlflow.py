"""``clue run --mlflow`` and ``clue export --format mlflow`` against real local MLflow tracking stores (SQLite
and a folder) in a temp folder, read back with MLflow's own client: one MLflow run per clue run, the run's
numbers, and no API key or credentialed sample anywhere in the store."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
from pathlib import Path

import polars as pl
import pytest

from clue_client.cli import main
from conftest import SAMPLES, run_clue
from fake_server import FakeServer
from real_run import SECRET, clue_run_on, files_containing, sample_texts

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("mlflow") is None and not os.environ.get("CI"),
                       reason="MLflow is not installed: tests/run.sh installs the [mlflow] extra (CI always has it)"),
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),  # MLflow's own SQLAlchemy use
]


def client(uri: str):  # noqa: ANN201 (mlflow is imported only when the tests run)
    if uri.startswith(("/", "file:")):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for it; clue sets it the same way
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def only_run(uri: str):  # noqa: ANN201
    mlflow_client = client(uri)
    experiment = mlflow_client.get_experiment_by_name("clue")
    runs = mlflow_client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return mlflow_client, runs[0]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """(run folder, tracking URI, store folder): ``clue run --mlflow sqlite:///...``, then the same run folder
    logged again in-process (as a resumed run or a second export logs it): still one MLflow run."""
    root = tmp_path_factory.mktemp("mlflow")
    store = root / "store"
    store.mkdir()
    uri = f"sqlite:///{store}/mlflow.db"
    out = root / "run"
    with FakeServer(api_key=SECRET) as server:
        proc = clue_run_on(server, out, "--mlflow", uri, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "MLflow: run " in proc.stderr and SECRET not in proc.stderr + proc.stdout
    assert main(["export", str(out), "--format", "mlflow", "--tracking-uri", uri]) == 0
    assert not (root / "mlruns").exists(), "artifacts belong beside the database, not in the current folder"
    return out, uri, store


def test_the_run_reads_back_with_its_numbers(logged: tuple[Path, str, Path]) -> None:
    out, uri, _ = logged
    _, run = only_run(uri)  # the second (resumed) clue run updated the same MLflow run
    results = json.loads((out / "results.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    metrics, params = run.data.metrics, run.data.params
    for task, entry in results["tasks"].items():
        assert metrics[f"{task}/score"] == pytest.approx(entry["score"])
        assert [metrics[f"{task}/ci95_low"], metrics[f"{task}/ci95_high"]] == pytest.approx(entry["ci95"])
        assert metrics[f"{task}/n_errors"] == entry["n_errors"] and metrics[f"{task}/n"] == entry["n"]
        for name, value in entry["metrics"].items():
            assert metrics[f"{task}/{name}"] == pytest.approx(value)
    frames = [pl.read_parquet(p) for p in (out / "predictions").glob("*.parquet")]
    assert metrics["usage/prompt_tokens"] == sum(int(f["prompt_tokens"].sum()) for f in frames)
    assert metrics["usage/errors"] == 0
    assert params["model"] == manifest["model"] and params["endpoint"] == manifest["endpoint"]
    assert params["protocol"] == "2025" and params["tasks"] == "mednli,meqsum,longhealth"
    assert json.loads(params["decoding.sampling"]) == results["decoding"]["sampling"]
    assert {k.removeprefix("data_sha256."): v for k, v in params.items() if k.startswith("data_sha256.")} \
        == manifest["data_files"]
    assert run.info.status == "FINISHED"
    # a tag, not a param: an embedded server's port changes when a run resumes, the MLflow run must not
    assert "base_urls" not in params and run.data.tags["clue.base_urls"] == ",".join(manifest["base_urls"])


def test_artifacts_and_no_secret_or_credentialed_sample_in_the_store(logged: tuple[Path, str, Path],
                                                                      tmp_path: Path) -> None:
    out, uri, store = logged
    mlflow_client, run = only_run(uri)
    assert sorted(a.path for a in mlflow_client.list_artifacts(run.info.run_id)) == \
        ["manifest.json", "report.html", "results.json"]
    report = Path(mlflow_client.download_artifacts(run.info.run_id, "report.html", str(tmp_path)))
    assert "Samples of credentialed tasks (mednli) are not in this copy" in report.read_text()
    credentialed = sample_texts(out, "mednli")
    public = sample_texts(out, "meqsum") | sample_texts(out, "longhealth")
    assert files_containing(store, credentialed) == {}, "a MedNLI text reached the tracking store"
    assert files_containing(store, public), "control: the public tasks' samples are in the logged report"
    assert files_containing(store, {SECRET}) == {}, "the API key reached the tracking store"


def test_export_to_a_folder_store_is_one_run_however_often(logged: tuple[Path, str, Path], tmp_path: Path) -> None:
    out, _, _ = logged
    store = tmp_path / "mlruns-folder"
    proc = run_clue("export", str(out), "--format", "mlflow", "--tracking-uri", str(store))
    assert proc.returncode == 0, proc.stderr
    assert main(["export", str(out), "--format", "mlflow", "--tracking-uri", str(store)]) == 0  # again, in-process
    _, run = only_run(str(store))
    results = json.loads((out / "results.json").read_text())
    assert run.data.metrics["meqsum/score"] == pytest.approx(results["tasks"]["meqsum"]["score"])


def test_without_the_extra_the_flag_is_one_line_and_nothing_is_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what `import mlflow` meets in an install without the extra
    with FakeServer() as server:
        code = main(["run", "--endpoint", server.base_url, "--tasks", "meqsum", "--data-dir", str(SAMPLES),
                     "--out", str(tmp_path / "run"), "--mlflow"])
        assert code == 2 and sum(server.requests.values()) == 0 and not (tmp_path / "run").exists()
    assert capsys.readouterr().err == ("clue: error: --mlflow needs the [mlflow] extra: "
                                       "pip install 'clue-client[mlflow]'\n")
    assert main(["export", str(tmp_path), "--format", "mlflow"]) == 2
    assert capsys.readouterr().err == ("clue: error: --format mlflow needs the [mlflow] extra: "
                                       "pip install 'clue-client[mlflow]'\n")


def test_a_store_that_does_not_open_stops_the_run_before_sending(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    with FakeServer() as server:
        code = main(["run", "--endpoint", server.base_url, "--tasks", "meqsum", "--data-dir", str(SAMPLES),
                     "--out", str(tmp_path / "run"), "--mlflow", f"sqlite:///{tmp_path}/a-file/mlflow.db"])
        assert code == 2 and sum(server.requests.values()) == 0
    err = capsys.readouterr().err
    assert err.startswith("clue: error: --mlflow: cannot open the MLflow tracking store sqlite:///")
    assert err.count("\n") == 1


def test_mlflow_takes_no_positional_and_its_value_is_optional() -> None:
    from clue_client.cli import build_parser

    parser = build_parser("run")
    assert parser.parse_args(["run", "--mlflow", "--tasks", "meqsum"]).mlflow == ""
    assert parser.parse_args(["run", "--tasks", "meqsum", "--mlflow"]).mlflow == ""
    assert parser.parse_args(["run", "--mlflow", "sqlite:///m.db", "--tasks", "meqsum"]).mlflow == "sqlite:///m.db"
    assert parser.parse_args(["run"]).mlflow is None


def test_an_unreachable_server_is_one_line_without_its_password(logged: tuple[Path, str, Path],
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    out, _, _ = logged
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's own retries would take minutes
    uri = f"http://bob:hunter2@127.0.0.1:{port}"
    assert main(["export", str(out), "--format", "mlflow", "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"clue: error: --format mlflow: cannot open the MLflow tracking store http://127.0.0.1:{port}:")
    assert err.count("\n") == 1 and "hunter2" not in err
