"""The shard recipes of docs/large-evaluations.md (a Slurm array, a Kubernetes Indexed Job) parse, serve the
model next to each shard, and call only `clue` commands and flags that exist (tests/cli_contract.txt)."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import yaml

from conftest import REPO

DOC = REPO / "docs" / "large-evaluations.md"
CONTRACT = {line for line in (REPO / "tests" / "cli_contract.txt").read_text().splitlines()
            if line and not line.startswith("#")}
SUBCOMMANDS = sorted({line.split()[0] for line in CONTRACT if not line.startswith("-")})
SECTION = "## 4. Shards"


def blocks(language: str) -> list[str]:
    """The fenced code blocks of the shards section in ``language``."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index(SECTION):]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def bash_syntax_ok(script: str, tmp_path: Path) -> None:
    path = tmp_path / "script.sh"
    path.write_text(script)
    proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, f"{proc.stderr}\n{script}"


def clue_calls(script: str) -> list[list[str]]:
    """Every ``clue SUBCOMMAND ...`` in a shell script, as words (continuation lines joined; a call ends at a
    quote that closes it, a command separator or a comment)."""
    joined = script.replace("\\\n", " ")
    calls = []
    for match in re.finditer(rf"(?<![\w/-])clue ({'|'.join(SUBCOMMANDS)})\b([^\n;&|#]*)", joined):
        rest = match.group(2)
        if rest.count('"') % 2:  # the call sits inside a quoted string (sbatch --wrap "...")
            rest = rest[: rest.rindex('"')]
        calls.append([match.group(1), *shlex.split(rest)])
    return calls


def check_calls(calls: list[list[str]]) -> None:
    for sub, *words in calls:
        assert sub in CONTRACT
        for flag in (w.split("=")[0] for w in words if w.startswith("--")):
            assert f"{sub} {flag}" in CONTRACT, f"clue {sub} has no {flag} in tests/cli_contract.txt"


def test_slurm_array_parses_serves_each_node_and_runs_its_shard(tmp_path: Path) -> None:
    scripts = blocks("bash")
    sbatch = next(s for s in scripts if "#SBATCH --array" in s)
    for script in scripts:
        bash_syntax_ok(script, tmp_path)
    assert "vllm serve" in sbatch and "127.0.0.1:8000" in sbatch
    calls = [c for s in scripts for c in clue_calls(s)]
    check_calls(calls)
    run = next(c for c in clue_calls(sbatch) if c[0] == "run")
    assert run[run.index("--shard") + 1] == "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT"
    assert any(c[0] == "merge" for c in clue_calls(next(s for s in scripts if "sbatch --dependency" in s)))


def test_kubernetes_indexed_job_parses_serves_each_pod_and_merges(tmp_path: Path) -> None:
    documents = [doc for block in blocks("yaml") for doc in yaml.safe_load_all(block)]
    jobs = {doc["metadata"]["name"]: doc for doc in documents if doc.get("kind") == "Job"}
    shards, merge = jobs["clue-shards"]["spec"], jobs["clue-merge"]["spec"]
    assert shards["completionMode"] == "Indexed" and shards["completions"] == shards["parallelism"]
    sidecar = shards["template"]["spec"]["initContainers"][0]
    assert sidecar["restartPolicy"] == "Always" and "vllm" in sidecar["image"] and "startupProbe" in sidecar
    scripts = [c["args"][0] for job in (shards, merge) for c in job["template"]["spec"]["containers"]]
    for script in scripts:
        bash_syntax_ok(script, tmp_path)
    calls = [c for s in scripts for c in clue_calls(s)]
    check_calls(calls)
    run = next(c for c in calls if c[0] == "run")
    assert run[run.index("--shard") + 1] == f"$shard/{shards['completions']}"
    assert any(c[0] == "merge" for c in calls)
    volumes = {v["name"] for job in (shards, merge) for v in job["template"]["spec"]["volumes"]}
    assert "runs" in volumes


def test_the_call_finder_sees_every_flag() -> None:
    """The checker itself: a call inside --wrap "...", a continued line, and a flag that does not exist."""
    script = 'sbatch --wrap "clue merge out a b" \\\n  --x\nclue run --endpoint u \\\n  --shard 1/2 --bogus # note\n'
    assert clue_calls(script) == [["merge", "out", "a", "b"], ["run", "--endpoint", "u", "--shard", "1/2", "--bogus"]]
    try:
        check_calls([["run", "--bogus"]])
    except AssertionError:
        return
    raise AssertionError("an unknown flag must fail the check")
