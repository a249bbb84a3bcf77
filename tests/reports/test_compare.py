"""clue compare: paired statistics on synthetic runs with a planted difference, and the CLI contract."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest

from clue_client.cli import main
from clue_client.reports.compare import compare_runs, holm, mcnemar_exact, paired_rows
from clue_client.errors import UserError
from clue_client.reports.run_folder import load_run
from clue_client.scoring import task_score
from runs_factory import TASK_METRICS, improve, synth_task, write_run

TASKS = ("mednli", "meqsum", "longhealth", "medisumcode")
MEQSUM_FILE = "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
RESAMPLES = 200


@pytest.fixture(scope="module")
def base_frames() -> dict[str, pl.DataFrame]:
    return {t: synth_task(t, 150, seed=i, quality=0.5, error_rate=0.05) for i, t in enumerate(TASKS)}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, base_frames: dict[str, pl.DataFrame]) -> tuple[Path, Path]:
    """B = A with a 30% share of samples made perfect on mednli, meqsum and longhealth; medisumcode equal."""
    root = tmp_path_factory.mktemp("planted")
    better = {t: improve(f, 0.3, seed=7) if t != "medisumcode" else f for t, f in base_frames.items()}
    return write_run(root / "a", base_frames, model="base"), write_run(root / "b", better, model="tuned")


def test_mcnemar_exact_matches_hand_computed_binomial_tails() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(9, 1) == pytest.approx(2 * (1 + 10) / 1024)
    assert mcnemar_exact(6, 6) == 1.0  # capped at 1


def test_holm_steps_down_and_keeps_order_monotone() -> None:
    adjusted = holm({"x": 0.01, "y": 0.04, "z": 0.03, "w": None})
    assert adjusted == {"x": pytest.approx(0.03), "z": pytest.approx(0.06), "y": pytest.approx(0.06), "w": None}


def test_planted_difference_is_detected(planted: tuple[Path, Path]) -> None:
    a, b = (load_run(p) for p in planted)
    result = compare_runs(a, b, task_score, resamples=RESAMPLES)
    for task in ("mednli", "meqsum", "longhealth"):
        c = result.tasks[task]
        assert c.delta is not None and c.delta > 0, task
        assert c.ci95 is not None and c.ci95[0] > 0, task
        assert c.p_holm is not None and c.p_holm < 0.05, task
        # delta is exactly the difference of the task scores on the paired samples
        pa, pb = paired_rows(a.predictions[task], b.predictions[task])
        assert c.delta == pytest.approx(task_score(task, pb) - task_score(task, pa))
    same = result.tasks["medisumcode"]
    assert same.delta == 0 and same.p_value == 1.0 and same.ci95 == (0.0, 0.0)
    assert result.tasks["mednli"].test == "mcnemar_exact"
    assert result.tasks["meqsum"].test == "permutation_paired"
    assert result.tasks["longhealth"].test == "permutation_paired_by_group"
    assert result.regressions() == []
    # seen from the other side, the same difference is a regression
    reverse = compare_runs(b, a, task_score, resamples=RESAMPLES)
    assert set(reverse.regressions()) == {"mednli", "meqsum", "longhealth"}


def test_identical_answers_are_not_flagged(tmp_path: Path, base_frames: dict[str, pl.DataFrame]) -> None:
    a = load_run(write_run(tmp_path / "a", base_frames, model="m"))
    b = load_run(write_run(tmp_path / "b", base_frames, model="m"))
    result = compare_runs(a, b, task_score, resamples=RESAMPLES)
    assert result.regressions() == [] and result.warnings == ()
    for c in result.tasks.values():
        assert c.delta == 0 and c.p_value == 1.0 and c.p_holm == 1.0


def test_only_samples_both_runs_answered_are_paired(tmp_path: Path) -> None:
    a_frame = synth_task("meqsum", 80, seed=1, error_rate=0.2)
    b_frame = synth_task("meqsum", 80, seed=2, error_rate=0.2).filter(pl.col("sample_id") != "meqsum-0003")
    a = load_run(write_run(tmp_path / "a", {"meqsum": a_frame}))
    b = load_run(write_run(tmp_path / "b", {"meqsum": b_frame}))
    both = (a_frame.filter(pl.col("prediction").is_not_null()).select("sample_id")
            .join(b_frame.filter(pl.col("prediction").is_not_null()).select("sample_id"), on="sample_id"))
    with pytest.raises(UserError, match=r"different samples \(meqsum: 1 sample\(s\) only in A, 0 only in B\)"):
        compare_runs(a, b, task_score, resamples=50)
    result = compare_runs(a, b, task_score, resamples=50, allow_different_samples=True)
    assert result.tasks["meqsum"].n_paired == both.height < 80
    assert "different samples: meqsum: 1 sample(s) only in A, 0 only in B" in result.warnings


def test_longhealth_bootstrap_resamples_whole_questions(tmp_path: Path) -> None:
    """Gains planted per question (all 5 prompts at once) give a wider CI when resampled by question."""
    frame = synth_task("longhealth", 300, seed=3, quality=0.4)
    gained = pl.col("group_id").str.slice(1).cast(pl.Int64) % 2 == 0  # half the questions, in every lh_task
    better = frame.with_columns(pl.when(gained & pl.col(m).is_not_nan()).then(1.0).otherwise(pl.col(m)).alias(m)
                                for m in TASK_METRICS["longhealth"])
    flat = {"longhealth": frame.with_columns(pl.col("sample_id").alias("group_id"))}
    flat_better = {"longhealth": better.with_columns(pl.col("sample_id").alias("group_id"))}
    by_group = compare_runs(load_run(write_run(tmp_path / "a", {"longhealth": frame})),
                            load_run(write_run(tmp_path / "b", {"longhealth": better})), task_score,
                            resamples=RESAMPLES).tasks["longhealth"]
    by_sample = compare_runs(load_run(write_run(tmp_path / "c", flat)), load_run(write_run(tmp_path / "d", flat_better)),
                             task_score, resamples=RESAMPLES).tasks["longhealth"]
    assert by_group.delta == pytest.approx(by_sample.delta)
    width = lambda c: c.ci95[1] - c.ci95[0]  # noqa: E731
    assert width(by_group) > 1.3 * width(by_sample)


def test_setup_differences_are_flagged(tmp_path: Path, base_frames: dict[str, pl.DataFrame]) -> None:
    frames = {"meqsum": base_frames["meqsum"]}
    other_prompt = frames["meqsum"].with_columns(
        pl.when(pl.col("sample_id") == "meqsum-0001").then(pl.lit(400)).otherwise(pl.col("max_tokens")).alias("max_tokens"))
    a = load_run(write_run(tmp_path / "a", frames, sampling={"temperature": 0.0}, data_files={MEQSUM_FILE: "1" * 64}))
    b = load_run(write_run(tmp_path / "b", {"meqsum": other_prompt}, sampling={"temperature": 1.0},
                           data_files={MEQSUM_FILE: "2" * 64}, protocol_version="other/2"))
    with pytest.raises(UserError, match="meqsum: data file MeQSum/"):  # same ids, other content
        compare_runs(a, b, task_score, resamples=20)
    notes = " | ".join(compare_runs(a, b, task_score, resamples=20, allow_different_samples=True).warnings)
    assert "sampling differs: temperature" in notes
    assert f"data file {MEQSUM_FILE} differs" in notes
    assert "protocol versions differ" in notes
    assert "meqsum: 1 of" in notes and "different prompts" in notes


def test_cli_json_contract_and_regression_gate(planted: tuple[Path, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    a, b = planted
    out = tmp_path / "cmp.json"
    assert main(["compare", str(a), str(b), "--json", str(out), "--resamples", "100", "--fail-on-regression"]) == 0
    data = json.loads(out.read_text())
    assert data["a"] == str(a) and data["b"] == str(b)
    assert set(data["tasks"]) == set(TASKS)
    for entry in data["tasks"].values():
        assert {"n_paired", "delta", "ci95", "p_value", "p_holm", "test"} <= set(entry)
        assert len(entry["ci95"]) == 2 and math.isfinite(entry["p_holm"])
    capsys.readouterr()
    assert main(["compare", str(b), str(a), "--resamples", "100", "--fail-on-regression"]) == 4
    err = capsys.readouterr().err
    assert "significant regression" in err and "mednli" in err and "Traceback" not in err


def test_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(tmp_path / "missing"), str(tmp_path / "missing2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "run folder not found" in err and "\n" not in err
    a = load_run(write_run(tmp_path / "a", {"mednli": synth_task("mednli", 10, seed=1)}))
    b = load_run(write_run(tmp_path / "b", {"meqsum": synth_task("meqsum", 10, seed=1)}))
    with pytest.raises(UserError, match="no task in common"):
        compare_runs(a, b, task_score)


def test_metric_sets_are_listed(tmp_path: Path) -> None:
    frame = synth_task("meqsum", 40, seed=4)
    a = load_run(write_run(tmp_path / "a", {"meqsum": frame}))
    b = load_run(write_run(tmp_path / "b", {"meqsum": frame}, partial={"meqsum": (TASK_METRICS["meqsum"][-1],)}))
    result = compare_runs(a, b, task_score, resamples=20)
    assert any("bertscore_f1" in note for note in result.warnings)
    assert result.tasks["meqsum"].delta == 0  # compared on the metrics both runs have


def test_fast_path_gives_the_statistics_of_scoring_every_resample(planted: tuple[Path, Path]) -> None:
    a, b = (load_run(p) for p in planted)
    fast = compare_runs(a, b, task_score, resamples=60, fast=True)
    slow = compare_runs(a, b, task_score, resamples=60, fast=False)
    for task, f in fast.tasks.items():
        s = slow.tasks[task]
        assert f.test == s.test and f.n_paired == s.n_paired, task
        assert (f.delta, f.p_value, f.p_holm) == pytest.approx((s.delta, s.p_value, s.p_holm)), task
        assert f.ci95 == pytest.approx(s.ci95), task


def test_a_scorer_that_is_not_a_mean_is_called_on_every_resample(tmp_path: Path) -> None:
    frame = synth_task("meqsum", 60, seed=5)
    a = load_run(write_run(tmp_path / "a", {"meqsum": frame}))
    b = load_run(write_run(tmp_path / "b", {"meqsum": improve(frame, 0.4, seed=1)}))
    calls = []

    def median_rouge1(task: str, scored: pl.DataFrame) -> float | None:
        calls.append(scored.height)
        return 100 * float(scored["rouge1"].median())

    result = compare_runs(a, b, median_rouge1, resamples=40).tasks["meqsum"]
    pa, pb = paired_rows(a.predictions["meqsum"], b.predictions["meqsum"])
    assert result.delta == pytest.approx(100 * (pb["rouge1"].median() - pa["rouge1"].median()))
    assert len(calls) >= 2 + 2 * 40 * 2  # observed pair, then both runs for every bootstrap and permutation


ALL_TASKS = ("mednli", "meqsum", "problem_summary", "longhealth", "medisumqa", "medisumcode")


@pytest.fixture(scope="module")
def level_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """B = A improved on the three Level 1 tasks only; Level 2 answers identical."""
    root = tmp_path_factory.mktemp("levels")
    base = {t: synth_task(t, 90, seed=30 + i, quality=0.45) for i, t in enumerate(ALL_TASKS)}
    better = {t: improve(f, 0.25, seed=3) if t in ("mednli", "meqsum", "problem_summary") else f for t, f in base.items()}
    return write_run(root / "a", base, model="base"), write_run(root / "b", better, model="tuned")


def test_levels_are_compared_on_paired_samples_and_holm_corrected_with_the_tasks(level_runs: tuple[Path, Path]) -> None:
    a, b = (load_run(p) for p in level_runs)
    result = compare_runs(a, b, task_score, resamples=RESAMPLES)
    one, two = result.levels["level1"], result.levels["level2"]
    assert one is not None and two is not None
    tasks = result.tasks
    assert one.delta == pytest.approx(sum(tasks[t].delta for t in ("mednli", "meqsum", "problem_summary")) / 3)
    assert one.score_b - one.score_a == pytest.approx(one.delta)
    assert one.ci95[0] > 0 and one.p_holm < 0.05 and one.n_paired == 3 * 90
    assert two.delta == 0 and two.p_value == 1.0 and two.ci95 == (0.0, 0.0)
    # Holm runs over the six task p-values and the two level p-values together
    expected = holm({**{t: c.p_value for t, c in tasks.items()}, "level1": one.p_value, "level2": two.p_value})
    assert {t: c.p_holm for t, c in tasks.items()} == pytest.approx({t: expected[t] for t in tasks})
    assert one.p_holm == pytest.approx(expected["level1"])
    reverse = compare_runs(b, a, task_score, resamples=RESAMPLES)
    assert "level1" in reverse.regressions() and reverse.regressions(among=["level2"]) == []
    # a level lacking a task is not compared
    partial = compare_runs(a, b, task_score, resamples=20, tasks=["mednli", "meqsum"])
    assert partial.levels == {"level1": None, "level2": None}


def test_cli_levels_in_json_and_table_and_gate_on_a_level(level_runs: tuple[Path, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    a, b = level_runs
    out = tmp_path / "cmp.json"
    assert main(["compare", str(a), str(b), "--json", str(out), "--resamples", "400"]) == 0
    table = capsys.readouterr().out
    assert "Level 1" in table and "Level 2" in table and "perm/level" in table
    levels = json.loads(out.read_text())["levels"]
    assert set(levels) == {"level1", "level2"}
    for entry in levels.values():
        assert {"delta", "ci95", "p_value", "p_holm"} <= set(entry)
    assert levels["level1"]["delta"] > 0 and levels["level2"]["delta"] == 0
    # B -> A: Level 1 regressed, Level 2 did not; the gate can look at one level or at everything
    assert main(["compare", str(b), str(a), "--resamples", "400", "--fail-on-regression-in", "level2"]) == 0
    assert main(["compare", str(b), str(a), "--resamples", "400", "--fail-on-regression-in", "level1"]) == 4
    assert capsys.readouterr().err.strip().endswith("on: level1")
    assert main(["compare", str(b), str(a), "--resamples", "400", "--fail-on-regression"]) == 4
    assert "level1" in capsys.readouterr().err
    assert main(["compare", str(b), str(a), "--resamples", "20", "--fail-on-regression-in", "level3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--fail-on-regression-in: level3 not compared here" in err and "\n" not in err
    assert main(["compare", str(b), str(a), "--resamples", "20", "--tasks", "mednli",
                 "--fail-on-regression-in", "level1"]) == 2
    assert "level1 cannot be compared" in capsys.readouterr().err


def _doubled(frame: pl.DataFrame) -> pl.DataFrame:
    """A CLUE 2024 task frame as scoring writes it: the first scored sample counted twice."""
    return frame.with_columns(counted=pl.Series([2] + [1] * (frame.height - 1), dtype=pl.Int8))


def test_runs_of_different_protocols_are_compared_only_when_allowed(tmp_path: Path) -> None:
    import numpy as np
    from conftest import run_clue

    from clue_client.reports.compare import _SumsPair

    frames = {t: synth_task(t, 40, seed=i, quality=0.5) for i, t in enumerate(("mednli", "meqsum"))}
    old_frames = {t: _doubled(f) for t, f in frames.items()}
    new = write_run(tmp_path / "new", frames, model="m")  # no protocol in the manifest: 2025
    old = write_run(tmp_path / "old", old_frames, model="m", protocol="2024")
    other = write_run(tmp_path / "other", {t: _doubled(improve(f, 0.3, seed=2)) for t, f in frames.items()},
                      model="m", protocol="2024")

    refused = run_clue("compare", str(new), str(old))
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 2 and len(lines) == 1 and "Traceback" not in refused.stderr
    assert "is a CLUE 2025 run" in lines[0] and "a CLUE 2024 run" in lines[0] and "--allow-mixed-protocols" in lines[0]
    assert "B − A" not in refused.stdout

    out = tmp_path / "mixed.json"
    mixed = run_clue("compare", str(new), str(old), "--allow-mixed-protocols", "--resamples", "50", "--json", str(out))
    assert mixed.returncode == 0, mixed.stderr
    assert "protocol: A CLUE 2025, B CLUE 2024" in mixed.stdout and "protocols differ" in mixed.stdout
    assert json.loads(out.read_text())["protocols"] == {"a": "2025", "b": "2024"}

    same = run_clue("compare", str(old), str(other), "--resamples", "50", "--json", str(out))
    assert same.returncode == 0, same.stderr
    assert "protocol: CLUE 2024" in same.stdout and "protocols differ" not in same.stdout
    compared = json.loads(out.read_text())["tasks"]["mednli"]
    reported = json.loads((old / "results.json").read_text())["tasks"]["mednli"]["score"]
    assert compared["score_a"] == pytest.approx(reported)  # the doubled first sample, as the report has it
    assert reported != pytest.approx(100 * frames["mednli"]["accuracy"].mean())
    pa, pb = paired_rows(load_run(old).predictions["mednli"], load_run(other).predictions["mednli"])
    _, group_of_row = np.unique(pa["group_id"].cast(pl.Utf8).to_numpy(), return_inverse=True)
    observed = (task_score("mednli", pa), task_score("mednli", pb))
    assert _SumsPair.for_frames("mednli", pa, pb, group_of_row, observed) is not None  # the fast path weighs it too


def test_cli_stops_on_runs_of_different_samples_unless_allowed(tmp_path: Path) -> None:
    from conftest import SAMPLES, run_clue
    from fake_server import FakeServer

    with FakeServer() as server:
        for name, limit in (("all", ()), ("two", ("--limit", "2"))):
            proc = run_clue("run", "--endpoint", server.base_url, "--tasks", "mednli", "--data-dir", str(SAMPLES),
                            "--out", str(tmp_path / name), "--no-bertscore", "--no-umls", *limit)
            assert proc.returncode == 0, proc.stderr
    out = tmp_path / "cmp.json"
    proc = run_clue("compare", str(tmp_path / "all"), str(tmp_path / "two"), "--json", str(out), "--resamples", "50")
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr
    assert "are runs on different samples (mednli: 3 sample(s) only in A, 0 only in B)" in lines[0]
    assert "--allow-different-samples" in lines[0] and not out.exists()
    allowed = run_clue("compare", str(tmp_path / "all"), str(tmp_path / "two"), "--json", str(out),
                       "--resamples", "50", "--allow-different-samples")
    assert allowed.returncode == 0, allowed.stderr
    data = json.loads(out.read_text())
    assert data["tasks"]["mednli"]["n_paired"] == 2 and any("different samples" in w for w in data["warnings"])
