"""`clue report` and `clue compare` on two real runs: `clue run` against two loopback test servers, one of
which knows the MedNLI answers. The comparison must find that difference, and nothing on MeQSum, where
both servers answer alike."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import SAMPLES, run_clue
from fake_server import FakeServer, prompt_id

LABELS = ("entailment", "contradiction", "neutral")
N_MEDNLI = 60


def _data_dir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """MedNLI in its original JSON-lines format (fictional records) and the shipped MeQSum sample."""
    data = tmp_path / "data"
    (data / "MedNLI").mkdir(parents=True)
    records = [{"sentence1": f"Fictional patient {i} has finding number {i}.", "sentence2": f"Statement {i}.",
                "gold_label": LABELS[(i * 7) % 3], "pairID": f"p{i}"} for i in range(N_MEDNLI)]
    (data / "MedNLI" / "mli_test_v1.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    shutil.copytree(SAMPLES / "MeQSum", data / "MeQSum")
    return data, {r["sentence1"]: r["gold_label"] for r in records}


def _guesser(body: dict) -> str:
    """A label picked from the prompt's hash: right about a third of the time."""
    return LABELS[int(prompt_id(body["messages"]), 16) % 3].upper() + " is my answer"


def _run(tmp_path: Path, name: str, server: FakeServer, data: Path) -> Path:
    out = tmp_path / name
    proc = run_clue("run", "--endpoint", server.base_url, "--tasks", "mednli,meqsum", "--data-dir", str(data),
                    "--out", str(out), "--no-bertscore", "--no-umls")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp_path = tmp_path_factory.mktemp("real")
    data, gold = _data_dir(tmp_path)

    def oracle(body: dict) -> str:
        last = body["messages"][-1]["content"]
        if "Fictional patient" not in last:
            return _guesser(body)  # MeQSum: answer exactly as the other server does
        sentence = next(s for s in gold if s in last)
        return gold[sentence].upper() + " is my answer"

    with FakeServer(responder=_guesser) as guessing, FakeServer(responder=oracle) as knowing:
        return _run(tmp_path, "guessing", guessing, data), _run(tmp_path, "knowing", knowing, data)


def test_compare_real_runs_finds_the_planted_difference(real_runs: tuple[Path, Path], tmp_path: Path) -> None:
    guessing, knowing = real_runs
    out = tmp_path / "cmp.json"
    proc = run_clue("compare", str(guessing), str(knowing), "--json", str(out), "--fail-on-regression")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    mednli, meqsum = result["tasks"]["mednli"], result["tasks"]["meqsum"]
    results_a = json.loads((guessing / "results.json").read_text())
    assert mednli["n_paired"] == results_a["tasks"]["mednli"]["n"] == N_MEDNLI - 3
    assert mednli["test"] == "mcnemar_exact" and mednli["delta"] > 0 and mednli["p_holm"] < 0.05
    assert mednli["delta"] == pytest.approx(100 - results_a["tasks"]["mednli"]["score"])
    assert meqsum["delta"] == 0 and meqsum["p_value"] == 1.0
    assert not any("differ" in w for w in result["warnings"]), result["warnings"]

    backwards = run_clue("compare", str(knowing), str(guessing), "--fail-on-regression")
    assert backwards.returncode == 4
    assert backwards.stderr.strip().endswith("significant regression (Holm p < 0.05) on: mednli")


def test_report_real_runs_shows_partial_metrics(real_runs: tuple[Path, Path], tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    proc = run_clue("report", *map(str, real_runs), "--html", str(html))
    assert proc.returncode == 0, proc.stderr
    # both servers serve "fake-model": the folder names tell the runs apart
    assert "fake-model (guessing)" in proc.stdout and "fake-model (knowing)" in proc.stdout
    assert "meqsum is missing metric(s) bertscore_f1 – not requested (--no-bertscore)" in proc.stdout
    assert "Level 2 not available (longhealth, medisumqa, medisumcode not run)" in proc.stdout
    page = html.read_text(encoding="utf-8")
    assert page.count("<svg") >= 2
    leaderboard = page[page.index('<table class="leaderboard">'):]
    leaderboard = leaderboard[:leaderboard.index("</table>")]
    # no run has a level here, so the mean task score ranks them: the knowing server first
    assert leaderboard.index("fake-model (knowing)") < leaderboard.index("fake-model (guessing)")


def test_report_shows_per_replica_figures(tmp_path: Path) -> None:
    """One endpoint over two loopback servers, one slower: the report gives requests, errors and latency
    percentiles per base URL, and they add up to the run's."""
    with FakeServer(delay_s=0.0) as fast, FakeServer(delay_s=0.3) as slow:
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.pair]\nbase_urls = ["{fast.base_url}", "{slow.base_url}"]\nmax_concurrency = 2\n')
        out = tmp_path / "run"
        proc = run_clue("run", "--endpoint", "pair", "--config", str(config), "--tasks", "meqsum,mednli",
                        "--data-dir", str(SAMPLES), "--out", str(out), "--no-bertscore", "--no-umls")
        assert proc.returncode == 0, proc.stderr
        sent = {fast.base_url: sum(fast.requests.values()), slow.base_url: sum(slow.requests.values())}
    html = tmp_path / "report.html"
    proc = run_clue("report", str(out), "--html", str(html), "--published", "none")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["replicas"]) == set(sent) and all(n > 0 for n in sent.values())
    page = html.read_text(encoding="utf-8")
    table = page[page.index('<table class="replicas">'):]
    table = table[:table.index("</table>")]
    p50 = {}
    for url, n in sent.items():
        assert manifest["replicas"][url]["requests"] == n
        row = re.search(rf"<td><code>{re.escape(url)}</code></td><td>(\d+)</td><td>(\d+)</td><td>([\d.]+)</td>", table)
        assert row and int(row.group(1)) == n and int(row.group(2)) == 0, table
        p50[url] = float(row.group(3))
        assert re.search(rf"{re.escape(url)}[\s│]+{n}[\s│]+0[\s│]+[\d.]+[\s│]+[\d.]+", proc.stdout), proc.stdout
    assert p50[slow.base_url] >= 0.3 > p50[fast.base_url]
