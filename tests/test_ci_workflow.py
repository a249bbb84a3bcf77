"""The CI workflow of docs/ci.md is valid YAML shaped as GitHub Actions reads it, and every ``clue`` command
line in it (and in docs/ci.md) parses with the real ``clue`` parser and uses only contract commands and flags."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from clue_client.cli import build_parser
from conftest import REPO

WORKFLOW = REPO / "docs" / "ci" / "clue-smoke.yml"
DOC = REPO / "docs" / "ci.md"
CONTRACT = {line for line in (REPO / "tests" / "cli_contract.txt").read_text().splitlines()
            if line and not line.startswith("#")}


def workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def clue_commands(script: str) -> list[list[str]]:
    """Each ``clue ...`` command of a shell script, as argv (``&&``, ``;``, ``|`` and new lines separate them)."""
    found = []
    for part in re.split(r"&&|\|\||;|\||\n", script):
        words = shlex.split(part)
        if words and words[0] == "clue":
            found.append(words[1:])
    return found


def check_command(argv: list[str], contract: set[str] = CONTRACT) -> None:
    """Parses with the real parser (no usage error) and uses only commands and flags of the contract."""
    try:
        build_parser(argv[0]).parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"clue {' '.join(argv)}: the parser refuses it (exit {exc.code})")
    sub = " ".join(argv[:2])
    command = sub if len(argv) > 1 and not argv[1].startswith("-") and sub in contract else argv[0]  # `data fetch`
    assert command in contract, command
    for word in argv:
        if word.startswith("--"):
            flag = f"{command} {word.split('=')[0]}"
            assert flag in contract, f"clue {flag}: not in tests/cli_contract.txt"


def test_the_workflow_is_valid_yaml_shaped_as_actions_reads_it() -> None:
    data = workflow()
    triggers = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    steps = data["jobs"]["clue-smoke"]["steps"]
    assert data["jobs"]["clue-smoke"]["runs-on"] == "ubuntu-latest"
    for step in steps:
        assert isinstance(step, dict) and ("uses" in step) != ("run" in step), step
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", step["uses"]), step["uses"]
    runs = [step["run"] for step in steps if "run" in step]
    assert any("pip install" in r and "clue-client[local]" in r for r in runs), "installs the project"
    commands = [argv for r in runs for argv in clue_commands(r)]
    assert any(argv[:3] == ["run", "--endpoint", "local"] for argv in commands), "serves the bundled model"
    gate = next(step for step in steps if "run" in step and "clue compare" in step["run"])
    assert "--fail-on-regression" in gate["run"] and "pull_request" in gate["if"]
    restore = next(step for step in steps if step.get("uses", "").startswith("actions/cache/restore"))
    save = next(step for step in steps if step.get("uses", "").startswith("actions/cache/save"))
    assert restore["with"]["path"] == save["with"]["path"] == shlex.split(gate["run"])[2], "the stored baseline"


def test_every_clue_command_in_the_workflow_and_the_doc_exists() -> None:
    scripts = [step["run"] for step in workflow()["jobs"]["clue-smoke"]["steps"] if "run" in step]
    scripts += re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    commands = [argv for script in scripts for argv in clue_commands(script)]
    assert len(commands) >= 5
    for argv in commands:
        check_command(argv)


def test_the_check_catches_a_flag_that_does_not_exist() -> None:
    with pytest.raises(pytest.fail.Exception, match="the parser refuses it"):
        check_command(["compare", "a", "b", "--fail-on-regresion"])
    with pytest.raises(AssertionError, match="not in tests/cli_contract.txt"):  # in the parser, not the contract
        check_command(["run", "--fail-under", "meqsum=1", "--junit-xml", "x.xml"], CONTRACT - {"run --junit-xml"})


def test_docs_point_at_the_workflow() -> None:
    assert "ci/clue-smoke.yml" in DOC.read_text()
    assert "docs/ci.md" in (REPO / "README.md").read_text()
