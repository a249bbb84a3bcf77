"""CI gates for a CI's own reports: ``--junit-xml`` on ``clue run`` (score floors) and ``clue compare``
(the regression gate), one test case per gated task or level with the numbers and the CI, and the results
appended as Markdown to ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clue_client.cli import main
from conftest import SAMPLES
from fake_server import FakeServer
from real_run import clue_run_on_fake_server
from runs_factory import improve, synth_task, write_run

PREVIOUS_SUMMARY = "## an earlier step's summary\n"


def cases(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    found = {case.get("name"): case for case in suite.iter("testcase")}
    assert suite.get("tests") == str(len(found))
    assert suite.get("failures") == str(sum(case.find("failure") is not None for case in found.values()))
    return found


def test_run_floors_as_junit_and_the_results_on_the_summary_page(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text(PREVIOUS_SUMMARY)
    out, report = tmp_path / "run", tmp_path / "clue-run.xml"
    proc, _ = clue_run_on_fake_server(out, "--fail-under", "mednli=100.5,meqsum=0", "--junit-xml", str(report),
                                      tasks="mednli,meqsum", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 4, proc.stderr
    results = json.loads((out / "results.json").read_text())["tasks"]
    found = cases(report)
    assert set(found) == {"mednli", "meqsum"}, "one case per task with a floor, no other"
    failure = found["mednli"].find("failure")
    assert failure is not None and found["meqsum"].find("failure") is None
    lo, hi = results["mednli"]["ci95"]
    assert failure.get("message") == (f"mednli scored {results['mednli']['score']:.2f} % "
                                      f"(95% CI [{lo:.2f}, {hi:.2f}]) < floor 100.5")
    assert f"n = {results['mednli']['n']} scored" in (failure.text or "")
    passed = found["meqsum"].findtext("system-out") or ""
    assert f"meqsum scored {results['meqsum']['score']:.2f} %" in passed and ">= floor 0" in passed
    page = summary.read_text()
    assert page.startswith(PREVIOUS_SUMMARY), "the summary is appended to, never replaced"
    row = next(line for line in page.splitlines() if line.startswith("| mednli |"))
    assert row.split(" | ")[1:4] == [f"{results['mednli']['score']:.2f}", f"{lo:.2f}–{hi:.2f}",
                                     str(results["mednli"]["n"])]
    assert "| task | score % | 95% CI |" in page and "| **Level 1** |" in page


def test_junit_without_a_gate_is_one_line_and_nothing_is_sent(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    with FakeServer() as server:
        code = main(["run", "--endpoint", server.base_url, "--tasks", "meqsum", "--data-dir", str(SAMPLES),
                     "--out", str(tmp_path / "run"), "--junit-xml", str(tmp_path / "x.xml")])
        assert code == 2 and sum(server.requests.values()) == 0
    assert capsys.readouterr().err == "clue: error: --junit-xml reports gates: add --fail-under TASK=SCORE,...\n"
    assert main(["compare", str(tmp_path), str(tmp_path), "--junit-xml", str(tmp_path / "x.xml")]) == 2
    assert "add --fail-on-regression or --fail-on-regression-in" in capsys.readouterr().err
    assert not (tmp_path / "x.xml").exists()


@pytest.fixture(scope="module")
def regressed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(baseline, new): the new run lost a planted 30% of perfect answers on mednli and meqsum; longhealth equal."""
    root = tmp_path_factory.mktemp("gate")
    base = {t: synth_task(t, 120, seed=i, quality=0.5) for i, t in enumerate(("mednli", "meqsum", "longhealth"))}
    good = {t: improve(f, 0.3, seed=5) if t != "longhealth" else f for t, f in base.items()}
    return write_run(root / "baseline", good, model="base"), write_run(root / "new", base, model="tuned")


def test_compare_gate_as_junit_with_the_numbers(regressed: tuple[Path, Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    baseline, new = regressed
    summary, report, raw = tmp_path / "summary.md", tmp_path / "compare.xml", tmp_path / "compare.json"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code = main(["compare", str(baseline), str(new), "--resamples", "200", "--fail-on-regression",
                 "--junit-xml", str(report), "--json", str(raw)])
    assert code == 4
    data = json.loads(raw.read_text())
    found = cases(report)
    assert set(found) == {"mednli", "meqsum", "longhealth", "level1", "level2"} - {
        lv for lv, entry in data["levels"].items() if entry is None}
    for task in ("mednli", "meqsum"):
        entry, failure = data["tasks"][task], found[task].find("failure")
        assert failure is not None, task
        lo, hi = entry["ci95"]
        assert failure.get("message") == (f"{task}: B - A = {entry['delta']:+.2f} points "
                                          f"(95% CI [{lo:+.2f}, {hi:+.2f}]), Holm p = {entry['p_holm']:.3g} "
                                          "< alpha 0.05: significant regression")
        assert f"A ({data['a']}): {entry['score_a']:.2f} %" in (failure.text or "")
    assert found["longhealth"].find("failure") is None
    assert "no significant regression" in (found["longhealth"].findtext("system-out") or "")
    page = summary.read_text()
    assert "### CLUE comparison" in page
    mednli = next(line for line in page.splitlines() if line.startswith("| mednli |"))
    assert f"{data['tasks']['mednli']['delta']:+.2f}" in mednli and mednli.endswith("| **worse** |")


def test_regression_gate_on_some_tasks_has_cases_for_those_only(regressed: tuple[Path, Path], tmp_path: Path) -> None:
    baseline, new = regressed
    report = tmp_path / "compare.xml"
    assert main(["compare", str(baseline), str(new), "--resamples", "100", "--fail-on-regression-in", "longhealth",
                 "--junit-xml", str(report)]) == 0
    found = cases(report)
    assert list(found) == ["longhealth"] and found["longhealth"].find("failure") is None


def test_an_unwritable_summary_is_one_line(regressed: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    baseline, new = regressed
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path))  # a folder
    assert main(["compare", str(baseline), str(new), "--resamples", "20"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"clue: error: GITHUB_STEP_SUMMARY={tmp_path}: cannot append") and err.count("\n") == 1
