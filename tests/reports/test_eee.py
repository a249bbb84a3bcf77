"""``clue export --format eee``: Every Eval Ever files that the format's own validator accepts, with the run's
numbers, and never a sample of a credentialed task.

The validator is PyPI ``every-eval-ever`` 0.3.0, which needs Python >= 3.12: tests/run.sh installs it into a
venv of its own (``.venv-eee``); CI always has it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from clue_client.errors import UserError
from clue_client.reports.eee import aggregate_record, model_identity
from clue_client.reports.run_folder import load_run
from conftest import REPO, run_clue
from real_run import SECRET, clue_run_on_fake_server, files_containing, sample_texts
from runs_factory import synth_task, write_run
from test_run_cli import one_line_error

EEE_PYTHON = REPO / ".venv-eee" / "bin" / "python"
needs_validator = pytest.mark.skipif(
    not EEE_PYTHON.is_file() and not os.environ.get("CI"),
    reason=f"{EEE_PYTHON} is missing: tests/run.sh installs every-eval-ever into .venv-eee (CI always has it)")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eee") / "run"
    proc, sent = clue_run_on_fake_server(out)
    assert proc.returncode == 0 and sent > 0, proc.stderr
    return out


def export(run_dir: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_clue("export", str(run_dir), "--format", "eee", "--out", str(out), "--model-id", "acme/fake-model",
                    *extra)


def validate(out: Path) -> tuple[int, list[dict]]:
    """EEE's validator on every file under ``out``, as its README says to call it (a glob of the layout)."""
    proc = subprocess.run([str(EEE_PYTHON), "-m", "every_eval_ever", "validate", "--format", "json",
                           f"{out}/data/*/*/*/*.json*"], capture_output=True, text=True, timeout=120)
    return proc.returncode, json.loads(proc.stdout or "[]")


def exported(out: Path) -> tuple[Path, Path | None]:
    folder = out / "data" / "clue" / "acme" / "fake-model"
    aggregate = next(p for p in folder.glob("*.json"))
    samples = folder / f"{aggregate.stem}_samples.jsonl"
    return aggregate, samples if samples.is_file() else None


@needs_validator
def test_the_eee_validator_accepts_the_files_with_and_without_samples(run_dir: Path, tmp_path: Path) -> None:
    proc = export(run_dir, tmp_path, "--include-samples")
    assert proc.returncode == 0, proc.stderr
    hint = next(line for line in proc.stderr.splitlines() if line.startswith("check with: python -m every_eval_ever"))
    printed = subprocess.run([str(EEE_PYTHON), *shlex.split(hint.removeprefix("check with: python"))],
                             capture_output=True, text=True, timeout=120, cwd=REPO)  # the command as printed
    assert printed.returncode == 0 and "2 passed, 0 warning-only, 0 failed" in printed.stdout, printed.stdout
    code, reports = validate(tmp_path)
    assert code == 0 and len(reports) == 2, reports
    assert all(r["valid"] and not r["errors"] and not r["warnings"] for r in reports), reports
    assert {r["file_type"] for r in reports} == {"aggregate", "instance"}
    # the same run exported again without samples: same file name, and no samples file left dangling
    first, _ = exported(tmp_path)
    assert export(run_dir, tmp_path).returncode == 0
    again, samples = exported(tmp_path)
    assert again == first and samples is None
    code, reports = validate(tmp_path)
    assert code == 0 and [r["file_type"] for r in reports] == ["aggregate"], reports


@needs_validator
def test_the_validator_can_fail_on_these_files(run_dir: Path, tmp_path: Path) -> None:
    """A control: the validation above is real (a required field removed is reported)."""
    assert export(run_dir, tmp_path).returncode == 0
    aggregate, _ = exported(tmp_path)
    record = json.loads(aggregate.read_text())
    del record["evaluation_results"][0]["metric_config"]["lower_is_better"]
    aggregate.write_text(json.dumps(record))
    code, reports = validate(tmp_path)
    assert code == 1 and "lower_is_better" in json.dumps(reports[0]["errors"])


def test_the_aggregate_carries_the_runs_numbers(run_dir: Path, tmp_path: Path) -> None:
    assert export(run_dir, tmp_path).returncode == 0
    record = json.loads(exported(tmp_path)[0].read_text())
    results = json.loads((run_dir / "results.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    by_id = {r["evaluation_result_id"]: r for r in record["evaluation_results"]}
    for task, entry in results["tasks"].items():
        score = by_id[f"clue.{task}/score"]["score_details"]
        assert score["score"] == pytest.approx(entry["score"])
        ci = score["uncertainty"]["confidence_interval"]
        assert [ci["lower"], ci["upper"]] == pytest.approx(entry["ci95"]) and ci["confidence_level"] == 0.95
        assert score["uncertainty"]["num_samples"] == entry["n"]
        for metric, value in entry["metrics"].items():
            assert by_id[f"clue.{task}/{metric}"]["score_details"]["score"] == pytest.approx(value)
        generation = by_id[f"clue.{task}/score"]["generation_config"]["generation_args"]
        assert generation["temperature"] == results["decoding"]["sampling"]["temperature"]
        assert generation["reasoning"] is False
    sources = {task: by_id[f"clue.{task}/score"]["source_data"] for task in results["tasks"]}
    assert sources["mednli"]["source_type"] == "other"
    assert "credentialed" in sources["mednli"]["additional_details"]["access"]
    assert sources["meqsum"]["source_type"] == "url" and sources["longhealth"]["source_type"] == "url"
    assert sources["meqsum"]["additional_details"]["sha256"] == manifest["data_files"][
        "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"]
    assert record["eval_library"] == {"name": "clue-client", "version": manifest["clue_client_version"],
                                      "additional_details": record["eval_library"]["additional_details"]}
    assert record["eval_library"]["additional_details"]["protocol"] == "2025"
    info = record["model_info"]
    assert info["id"] == "acme/fake-model" and info["name"] == manifest["model"]
    assert info["additional_details"]["endpoint"] == manifest["endpoint"]
    assert info["additional_details"]["deployment_type"] == "self_deployed"
    assert SECRET not in json.dumps(record)


def test_samples_only_of_public_tasks_and_never_credentialed_text(run_dir: Path, tmp_path: Path) -> None:
    assert export(run_dir, tmp_path, "--include-samples").returncode == 0
    aggregate, samples = exported(tmp_path)
    assert samples is not None
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    assert {r["evaluation_name"] for r in rows} == {"clue.meqsum", "clue.longhealth"}
    results = json.loads((run_dir / "results.json").read_text())["tasks"]
    assert len(rows) == results["meqsum"]["n"] + results["longhealth"]["n"]
    detail = json.loads(aggregate.read_text())["detailed_evaluation_results"]
    assert detail["total_rows"] == len(rows) and detail["file_path"].endswith(samples.name)
    credentialed = sample_texts(run_dir, "mednli")
    public = sample_texts(run_dir, "meqsum") | sample_texts(run_dir, "longhealth")
    assert credentialed and public
    assert files_containing(tmp_path, credentialed) == {}, "a MedNLI text left the run folder"
    assert files_containing(tmp_path, public), "control: the public tasks' texts are in the samples file"


def test_protocol_comes_from_results_json(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "run", {"meqsum": synth_task("meqsum", 20, seed=1)}, model="gpt-4o-mini")
    results = json.loads((folder / "results.json").read_text())
    assert aggregate_record(load_run(folder))["eval_library"]["additional_details"]["protocol"] == "2025"
    (folder / "results.json").write_text(json.dumps({**results, "protocol": "2024"}))
    assert aggregate_record(load_run(folder))["eval_library"]["additional_details"]["protocol"] == "2024"


def test_model_identity(tmp_path: Path) -> None:
    """An organisation from the served id, the bundled model's, OpenAI's; otherwise --model-id is needed."""
    frames = {"meqsum": synth_task("meqsum", 5, seed=1)}
    qwen = load_run(write_run(tmp_path / "a", frames, model="Qwen/Qwen2.5-7B-Instruct"))
    assert model_identity(qwen) == ("Qwen/Qwen2.5-7B-Instruct", "Qwen", "Qwen2.5-7B-Instruct")
    openai = load_run(write_run(tmp_path / "b", frames, model="gpt-4o-mini"))  # the factory's kind is "openai"
    assert model_identity(openai)[0] == "openai/gpt-4o-mini"
    bundled = write_run(tmp_path / "c", frames, model="gemma-3-270m-q4_k_m")
    manifest = json.loads((bundled / "manifest.json").read_text())
    (bundled / "manifest.json").write_text(json.dumps({**manifest, "kind": "llamacpp", "embedded": True}))
    assert model_identity(load_run(bundled))[:2] == ("google/gemma-3-270m", "google")
    (bundled / "manifest.json").write_text(json.dumps({**manifest, "kind": "vllm", "model": "my-finetune"}))
    with pytest.raises(UserError, match="--model-id ORG/NAME"):
        model_identity(load_run(bundled))
    assert model_identity(load_run(bundled), "lab/my-finetune:v2") == ("lab/my-finetune:v2", "lab", "my-finetune_v2")


@pytest.mark.parametrize("args, message", [
    (("--format", "eee"), "--format eee needs --out DIR"),
    (("--format", "eee", "--out", "{tmp}/x"), "names no developer; pass --model-id ORG/NAME"),
    (("--format", "eee", "--out", "{tmp}/x", "--tracking-uri", "sqlite:///x.db"),
     "--tracking-uri applies to --format mlflow"),
    (("--format", "mlflow", "--include-samples"), "--include-samples applies to --format eee"),
])
def test_user_errors_are_one_line(run_dir: Path, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    proc = run_clue("export", str(run_dir), *(a.format(tmp=tmp_path) for a in args))
    assert proc.returncode == 2 and message in one_line_error(proc)


def test_a_missing_run_folder_is_one_line(tmp_path: Path) -> None:
    proc = run_clue("export", str(tmp_path / "nope"), "--format", "eee", "--out", str(tmp_path))
    assert proc.returncode == 2 and "run folder not found" in one_line_error(proc)
