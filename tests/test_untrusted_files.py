"""What a batch file, a data file or a hand-edited run folder can hold is one line, never a traceback.

JSON nested 100,000 deep, integers of 5,000 digits, 1e999, lone surrogates and values of the wrong type, in
batch output files, dataset files, manifest.json, results.json and store rows. An odd answer is stored as it
can be (the store is never called damaged for it). Hand-edited folders are checked through the real CLI
entry point (in process, fast); one subprocess run per file kind shows the same from outside.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any, Callable

import pytest

from clue_client.cli import main
from clue_client.datasets.formats import load_medisumqa, load_mednli
from clue_client.errors import DataError
from clue_client.untrusted_json import loads

from conftest import SAMPLES, run_clue
from fake_server import FakeServer

SCORING = ("--no-bertscore", "--no-umls", "--bootstrap", "50")
DEEP = "[" * 100_000 + "]" * 100_000
HUGE = "9" * 5000


@pytest.mark.parametrize(("text", "reason"), [
    (DEEP, "nested too deeply"), (HUGE, "more than 4300 digits"), ("1e999", "out of range"),
    ("NaN", "not a number JSON allows"), ('"a \\ud800 b"', "lone surrogate (\\ud800)"), ("{x", "column 2"),
])
def test_untrusted_json_gives_one_line_reasons(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        loads(text)
    assert reason in str(info.value) and "\n" not in str(info.value)
    assert loads('"\\ud83d\\ude00 caf\\u00e9"') == "\U0001f600 café", "a surrogate pair is valid text"


# ---- batch output files ------------------------------------------------------------------------------
def _completion(key: str, content: Any = "ENTAILMENT", finish: Any = "stop", usage: Any = None) -> dict[str, Any]:
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            "usage": usage if usage is not None else {"prompt_tokens": 10, "completion_tokens": 2}}
    return {"custom_id": key, "response": {"status_code": 200, "body": body}, "error": None}


def test_odd_batch_lines_are_stored_as_they_can_be_or_skipped_with_a_reason(tmp_path: Path) -> None:
    run = tmp_path / "run"
    exported = run_clue("batch", "export", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--tasks", "mednli",
                        "--data-dir", str(SAMPLES), "--run", str(run))
    assert exported.returncode == 0, exported.stderr
    keys = [json.loads(line)["custom_id"] for line in (run / "batch_requests.jsonl").read_text().splitlines()]
    assert len(keys) >= 5
    odd = [
        json.dumps(_completion(keys[0], usage={"prompt_tokens": 10**30, "completion_tokens": 7.0})),
        json.dumps(_completion(keys[1], content="half an emoji \ud83d here")),  # json.dumps escapes it: \ud83d
        json.dumps(_completion(keys[2], finish={"type": "stop"}, usage={"prompt_tokens": "many", "completion_tokens": [1]})),
        json.dumps(_completion(keys[3])).replace('"prompt_tokens": 10', '"prompt_tokens": 1e999'),
        '{"custom_id": "%s", "response": %s}' % (keys[4], DEEP),
        json.dumps(_completion(keys[4]))[:-1] + f', "n": {HUGE}}}',
    ]
    (tmp_path / "out.jsonl").write_text("\n".join(odd) + "\n")
    proc = run_clue("batch", "import", str(tmp_path / "out.jsonl"), "--run", str(run), *SCORING)
    assert proc.returncode == 3, proc.stderr  # the other samples are still missing
    assert "Traceback" not in proc.stderr + proc.stdout and "damaged" not in proc.stderr
    assert "skipped line 5: malformed: not JSON (nested too deeply)" in proc.stderr
    assert "skipped line 6: malformed: not JSON (an integer of more than 4300 digits)" in proc.stderr
    with sqlite3.connect(run / "store.sqlite") as db:
        rows = {k: (t, f, p, c) for k, t, f, p, c in db.execute(
            "SELECT key, text, finish_reason, prompt_tokens, completion_tokens FROM responses")}
    assert rows[keys[0]] == ("ENTAILMENT", "stop", None, 7), "a count out of SQLite's range is unknown"
    assert rows[keys[1]][0] == "half an emoji \ufffd here", "a lone surrogate becomes U+FFFD"
    assert rows[keys[2]] == ("ENTAILMENT", None, None, None), "a finish_reason that is not text is unknown"
    assert rows[keys[3]][2] is None, "1e999 tokens is unknown"
    assert set(rows) == set(keys[:4])


# ---- dataset files -----------------------------------------------------------------------------------
MEDNLI = {"sentence1": "Fictional premise.", "sentence2": "Statement.", "gold_label": "neutral"}


@pytest.mark.parametrize(("line", "expected"), [
    (DEEP, "line 2: invalid JSON (nested too deeply)"),
    (json.dumps(MEDNLI)[:-1] + f', "pairID": {HUGE}}}', "line 2: invalid JSON (an integer of more than 4300 digits)"),
    (json.dumps({**MEDNLI, "sentence1": 1}).replace(": 1,", ": 1e999,"), "line 2: invalid JSON (the number 1e999"),
    (json.dumps({**MEDNLI, "sentence1": "bad \ud800 text"}), "line 2: invalid JSON (a lone surrogate (\\ud800)"),
    (json.dumps({**MEDNLI, "sentence2": ["a", "list"]}), "line 2: field 'sentence2' must be a string, got list"),
])
def test_odd_dataset_records_are_one_line(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "mli_test_v1.jsonl"
    path.write_text(json.dumps(MEDNLI) + "\n" + line + "\n")
    with pytest.raises(DataError) as info:
        load_mednli(path)
    assert expected in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["[" + DEEP + "]", f"[{HUGE}]", '[{"Question": "\\udfff"}]'])
def test_odd_json_list_datasets_are_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "MeDiSumQA.json"
    path.write_text(text)
    with pytest.raises(DataError, match="invalid JSON"):
        load_medisumqa(path)


def test_data_status_reports_an_odd_file_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "MedNLI"
    folder.mkdir(parents=True)
    (folder / "mli_test_v1.jsonl").write_text(json.dumps({**MEDNLI, "sentence1": "x \udc00"}) + "\n")
    proc = run_clue("data", "status", "--data-dir", str(tmp_path / "data"), "--json")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    status = {row["id"]: row for row in json.loads(proc.stdout)}
    assert "lone surrogate" in status["mednli"]["error"]


# ---- hand-edited run folders ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    with FakeServer() as server:
        proc = run_clue("run", "--endpoint", server.base_url, "--tasks", "meqsum", "--data-dir", str(SAMPLES),
                        "--out", str(out), *SCORING)
    assert proc.returncode == 0, proc.stderr
    return out


def _edited(finished_run: Path, tmp_path: Path, name: str, edit: Callable[[str], str]) -> Path:
    run = tmp_path / "edited"
    shutil.copytree(finished_run, run)
    path = run / name
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    return run


def _one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(args)
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def _set(key: str, raw: str) -> Callable[[str], str]:
    """Replace a top-level key's value with raw JSON text."""
    def edit(text: str) -> str:
        data = json.loads(text)
        data[key] = "@@@"
        return json.dumps(data).replace('"@@@"', raw)
    return edit


@pytest.mark.parametrize(("edit", "expected"), [
    (_set("tasks", "5"), "key 'tasks': Input should be a valid list"),
    (_set("stored_responses", '"many"'), "key 'stored_responses'"),
    (_set("model", '"\\ud800"'), "lone surrogate"),
    (_set("seed", DEEP), "nested too deeply"),
    (_set("seed", HUGE), "more than 4300 digits"),
    (_set("max_cost", "1e999"), "out of range"),
    (lambda text: "[1, 2]", "expected a JSON object"),
    (_set("batch_imports", '{"a": 1}'), "key 'batch_imports'"),
    (_set("sampling", '{"temperature": "hot"}'), "key 'sampling.temperature': Input should be a valid number"),
])
def test_a_hand_edited_manifest_is_one_line(finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            edit: Callable[[str], str], expected: str) -> None:
    run = _edited(finished_run, tmp_path, "manifest.json", edit)
    line = _one_line(["score", str(run), *SCORING], capsys)
    assert "manifest.json" in line and expected in line


@pytest.mark.parametrize(("edit", "expected"), [
    (_set("sampling", '{"temperature": "hot"}'), "sampling.temperature: expected a number or null, got 'hot'"),
    (_set("data_files", "[1]"), "data_files: expected an object"),
    (_set("tasks", '"meqsum"'), "tasks: expected a list of strings"),
])
def test_a_hand_edited_manifest_is_one_line_in_reports_too(finished_run: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            edit: Callable[[str], str], expected: str) -> None:
    run = _edited(finished_run, tmp_path, "manifest.json", edit)
    line = _one_line(["report", str(run), "--published", "none"], capsys)
    assert "manifest.json" in line and expected in line


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda t: t.replace('"n": ', '"n": "lots", "x": ', 1), "tasks.meqsum.n: expected a whole number"),
    (_set("level1", "1e999"), "out of range"),
    (_set("levels_partial", "[1]"), "levels_partial: expected an object"),
    (_set("model", '"\\udfff"'), "lone surrogate"),
    (_set("endpoint", DEEP), "nested too deeply"),
    (lambda t: t.replace('"partial": [', '"partial": 7, "p": [', 1), "partial: expected a list of strings"),
])
def test_a_hand_edited_results_file_is_one_line(finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                edit: Callable[[str], str], expected: str) -> None:
    run = _edited(finished_run, tmp_path, "results.json", edit)
    line = _one_line(["report", str(run), "--published", "none"], capsys)
    assert "results.json" in line and expected in line


@pytest.mark.parametrize(("sql", "expected"), [
    ("UPDATE responses SET prompt_tokens = 'many'", "column 'prompt_tokens' holds 'many' (str)"),
    ("UPDATE responses SET text = x'4142'", "column 'text' holds \"b'AB'\" (bytes)"),
    ("UPDATE responses SET latency_s = 'slow'", "column 'latency_s' holds 'slow'"),
    ("UPDATE responses SET text = CAST(x'ff00' AS TEXT)", "text that is not UTF-8"),
])
def test_a_hand_edited_store_row_is_one_line_that_does_not_call_the_store_damaged(
        finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], sql: str, expected: str) -> None:
    run = tmp_path / "edited"
    shutil.copytree(finished_run, run)
    with sqlite3.connect(run / "store.sqlite") as db:
        db.execute(sql)
    line = _one_line(["score", str(run), *SCORING], capsys)
    assert "store.sqlite" in line and expected in line and "damaged" not in line


def test_hand_edits_are_one_line_from_outside_too(finished_run: Path, tmp_path: Path) -> None:
    run = _edited(finished_run, tmp_path, "manifest.json", _set("tasks", DEEP))
    for args in (("score", str(run)), ("report", str(run)), ("batch", "import", str(run / "x.jsonl"), "--run", str(run))):
        proc = run_clue(*args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "nested too deeply" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
