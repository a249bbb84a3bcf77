"""`clue run --dry-run`, `--max-cost`'s bill first, progress lines in a log, `--quiet`, next steps.

Subprocesses talking real HTTP to the loopback test server; stderr is a pipe, so it is not a terminal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import SAMPLES, run_clue
from fake_server import FakeServer

from clue_client.engine.ratelimit import estimate_tokens

pytestmark = pytest.mark.timeout(300)

NO_EXTRAS = ("--no-bertscore", "--no-umls")
LINE = re.compile(r"^requests (\d+)/(\d+) done, (\d+) in flight, (\d+) errors, (\d+) retries, (\d+) tok/s, "
                  r"elapsed \S+, ETA \S+$")


def plan_rows(stdout: str) -> dict[str, list[str]]:
    """Task name -> cells of the plan table's body rows (the table is drawn without vertical rules)."""
    rows = {}
    for line in stdout.splitlines():
        cells = line.split()
        if cells and (cells[0] in ("mednli", "meqsum", "longhealth", "total")) and cells[1].replace(",", "").isdigit():
            rows[cells[0]] = [c.replace(",", "") for c in cells[1:]]
    return rows


def test_dry_run_sends_nothing_then_counts_what_a_run_stored(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ("run", "--tasks", "mednli,meqsum", "--data-dir", str(SAMPLES), "--out", str(out), *NO_EXTRAS)
    with FakeServer() as server:
        plan = run_clue(*args, "--endpoint", server.base_url, "--dry-run")
        assert plan.returncode == 0, plan.stderr
        assert sum(server.requests.values()) == 0 and not out.exists(), "a dry run sends and writes nothing"
        rows = plan_rows(plan.stdout)
        # the sample set: 8 MedNLI records and 6 MeQSum records, 3 of each kept as few-shot examples
        assert rows["mednli"][:3] == ["5", "0", "5"] and rows["meqsum"][:3] == ["3", "0", "3"]
        assert int(rows["mednli"][4]) == 5 * 20 and int(rows["meqsum"][4]) == 3 * 512  # max_tokens ceilings
        assert rows["total"][:3] == ["8", "0", "8"]
        assert "nothing sent" in plan.stderr

        done = run_clue(*args, "--endpoint", server.base_url)
        assert done.returncode == 0, done.stderr
        sent = sum(server.requests.values())
        again = run_clue(*args, "--endpoint", server.base_url, "--dry-run")
        assert sum(server.requests.values()) == sent
    rows = plan_rows(again.stdout)
    assert rows["total"][:3] == ["8", "8", "0"] and rows["total"][3:5] == ["0", "0"]


def test_dry_run_prompt_estimate_is_the_engines(tmp_path: Path) -> None:
    """The plan's prompt tokens are the engine's estimate of exactly the prompts the run then sends."""
    out = tmp_path / "run"
    args = ("run", "--tasks", "mednli", "--data-dir", str(SAMPLES), "--out", str(out), *NO_EXTRAS)
    seen: list[list[dict]] = []

    def responder(body: dict) -> str:
        seen.append(body["messages"])
        return "NEUTRAL"

    with FakeServer(responder=responder) as server:
        plan = run_clue(*args, "--endpoint", server.base_url, "--dry-run")
        assert run_clue(*args, "--endpoint", server.base_url).returncode == 0
    assert len(seen) == 5
    assert int(plan_rows(plan.stdout)["mednli"][3]) == sum(estimate_tokens(m, 0) for m in seen)


def test_dry_run_of_a_hosted_endpoint_needs_no_key_and_shows_the_cost(tmp_path: Path) -> None:
    """The shipped `openai` entry: model and prices configured, so nothing is contacted, no key is read."""
    proc = run_clue("run", "--dry-run", "--endpoint", "openai", "--tasks", "meqsum,longhealth",
                    "--data-dir", str(SAMPLES), "--out", str(tmp_path / "run"), env={"OPENAI_API_KEY": ""})
    assert proc.returncode == 0, proc.stderr
    assert "gpt-4o-mini" in proc.stdout and "cost" in proc.stdout
    rows = plan_rows(proc.stdout)
    prompt, completion, cost = int(rows["total"][3]), int(rows["total"][4]), float(rows["total"][5])
    assert cost == pytest.approx((prompt * 0.15 + completion * 0.60) / 1e6, abs=1e-4)
    assert int(rows["longhealth"][0]) == 9 * 15  # every question, 15 prompts each


def test_dry_run_refuses_credentialed_data_for_a_hosted_endpoint(tmp_path: Path) -> None:
    proc = run_clue("run", "--dry-run", "--endpoint", "openai", "--tasks", "mednli", "--data-dir", str(SAMPLES),
                    "--out", str(tmp_path / "run"))
    assert proc.returncode == 2 and "refusing" in proc.stderr and "Traceback" not in proc.stderr


def test_max_cost_shows_the_bill_before_sending(tmp_path: Path) -> None:
    with FakeServer() as server:
        config = tmp_path / "endpoints.toml"
        config.write_text(f'[endpoints.priced]\nbase_url = "{server.base_url}"\nmodel = "fake-model"\n'
                          "price_per_million_input = 1.0\nprice_per_million_output = 2.0\n")
        proc = run_clue("run", "--endpoint", "priced", "--config", str(config), "--tasks", "meqsum",
                        "--data-dir", str(SAMPLES), "--out", str(tmp_path / "run"), "--max-cost", "5", *NO_EXTRAS)
    assert proc.returncode == 0, proc.stderr
    bill, progress = proc.stderr.index("plan: fake-model @ priced"), proc.stderr.index("requests 0/3 done")
    assert bill < progress, "the plan must be printed before the first request"
    assert "cost" in proc.stderr


def test_progress_lines_in_a_log_and_quiet_prints_only_results(tmp_path: Path) -> None:
    args = ("run", "--tasks", "mednli", "--data-dir", str(SAMPLES), *NO_EXTRAS)
    with FakeServer() as server:
        logged = run_clue(*args, "--endpoint", server.base_url, "--out", str(tmp_path / "logged"))
        quiet = run_clue(*args, "--endpoint", server.base_url, "--out", str(tmp_path / "quiet"), "--quiet")
    assert logged.returncode == 0 and quiet.returncode == 0, logged.stderr + quiet.stderr
    lines = [LINE.match(line) for line in logged.stderr.splitlines() if line.startswith("requests ")]
    assert len(lines) >= 2 and all(lines), logged.stderr
    first, last = lines[0].groups(), lines[-1].groups()
    assert first[:2] == ("0", "5") and last[:3] == ("5", "5", "0") and last[3:5] == ("0", "0")
    assert "\x1b[" not in logged.stderr and "━" not in logged.stderr, "no bar drawing in a log"
    assert quiet.stderr == "", quiet.stderr
    assert "CLUE results" in quiet.stdout and "mednli" in quiet.stdout


def test_next_steps_name_the_report_and_a_comparison_with_a_run_beside_it(tmp_path: Path) -> None:
    args = ("run", "--tasks", "mednli", "--data-dir", str(SAMPLES), *NO_EXTRAS)
    runs = tmp_path / "runs"
    with FakeServer() as server:
        first = run_clue(*args, "--endpoint", server.base_url, "--out", str(runs / "a"))
        (runs / "z").mkdir()  # a newer run under the other protocol: compare would refuse it, so it is not named
        (runs / "z" / "results.json").write_text('{"protocol": "2024", "tasks": {}}')
        second = run_clue(*args, "--endpoint", server.base_url, "--out", str(runs / "b"))
    steps = lambda proc: [line.removeprefix("next: ") for line in proc.stderr.splitlines() if line.startswith("next: ")]
    assert steps(first) == [f"clue report {runs / 'a'} --html report.html"]
    assert steps(second) == [f"clue report {runs / 'b'} --html report.html", f"clue compare {runs / 'a'} {runs / 'b'}"]
    report = run_clue(*steps(second)[1].split()[1:])
    assert report.returncode == 0, report.stderr


def test_endpoint_limit_is_the_default_and_the_flag_overrides_it(tmp_path: Path) -> None:
    with FakeServer() as server:
        good, wrong = tmp_path / "endpoints.toml", tmp_path / "wrong.toml"
        good.write_text(f'[endpoints.small]\nbase_url = "{server.base_url}"\nlimit = 1\n')
        wrong.write_text(f'[endpoints.bad]\nbase_url = "{server.base_url}"\nlimit = 0\n')
        args = ("run", "--tasks", "mednli", "--data-dir", str(SAMPLES), "--out", str(tmp_path / "run"), "--dry-run")
        default = run_clue(*args, "--config", str(good), "--endpoint", "small")
        flag = run_clue(*args, "--config", str(good), "--endpoint", "small", "--limit", "3")
        bad = run_clue(*args, "--config", str(wrong), "--endpoint", "bad")
        assert sum(server.requests.values()) == 0
    assert default.returncode == 0 and flag.returncode == 0, default.stderr + flag.stderr
    assert plan_rows(default.stdout)["mednli"][0] == "1" and "first 1 sample(s)" in default.stderr
    assert plan_rows(flag.stdout)["mednli"][0] == "3" and "first" not in flag.stderr
    assert bad.returncode == 2 and "endpoint 'bad': key 'limit'" in bad.stderr and "Traceback" not in bad.stderr
