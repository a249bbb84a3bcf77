"""The real embedded llama.cpp server with its reasoning parser: thoughts arrive in ``reasoning_content``.

The bundled Gemma 3 270M is a base model that never learnt ``<think>``, so a chat template that opens the
tag in the prompt (and renders ``reasoning_content`` of earlier turns, which is how llama.cpp's template
analysis finds the reasoning markers) makes everything it writes a thought: cut off by MedNLI's 20-token
budget, content is ``""``. With a grammar in ``extra_body`` that closes the thought and then allows only a
label, llama.cpp's parser splits thought and answer, as it does for a real thinking model.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from clue_client.serving.local import LocalServer, LocalServerSettings, local_server
from conftest import SAMPLES, run_clue

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

THINK_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
    "{% if m['role'] == 'assistant' and m['reasoning_content'] is defined and m['reasoning_content'] %}"
    "<think>\n{{ m['reasoning_content'] }}\n</think>\n{% endif %}{{ m['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n"
    "{% if enable_thinking is not defined or enable_thinking %}<think>\n{% endif %}{% endif %}"
)
THOUGHT = "Entailment, contradiction or neutral?"
GRAMMAR = 'root ::= "' + THOUGHT + '\\n</think>\\n\\n" ("ENTAILMENT" | "CONTRADICTION" | "NEUTRAL")'
LIMIT = "2"


@pytest.fixture(scope="module")
def server() -> LocalServer:
    with local_server(LocalServerSettings(slots=1, context_length=4096, chat_template=THINK_TEMPLATE)) as running:
        yield running


def clue(server: LocalServer, out: Path, *extra: str) -> dict:
    proc = run_clue("run", "--endpoint", server.base_url, "--tasks", "mednli", "--data-dir", str(SAMPLES),
                    "--limit", LIMIT, "--concurrency", "1", "--out", str(out), "--bootstrap", "20", *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "results.json").read_text())["tasks"]["mednli"]


def test_thinking_cut_off_by_the_answer_budget_is_an_empty_answer(server: LocalServer, tmp_path: Path) -> None:
    task = clue(server, tmp_path / "run")
    frame = pl.read_parquet(tmp_path / "run" / "predictions" / "mednli.parquet")
    assert task["n"] == int(LIMIT) and task["n_reasoning_truncated"] == task["n"]
    assert task["score"] == 0.0
    assert (frame["raw_content"] == "").all() and (frame["prediction"] == "").all()
    assert frame["reasoning"].str.len_chars().min() > 0, "llama.cpp sent the thoughts as reasoning_content"
    assert (frame["finish_reason"] == "length").all()


def test_a_finished_thought_is_split_from_the_answer(server: LocalServer, tmp_path: Path) -> None:
    config = tmp_path / "endpoints.toml"
    config.write_text(f'[endpoints.think]\nbase_url = "{server.base_url}"\nextra_body = {{ grammar = {json.dumps(GRAMMAR)} }}\n')
    task = clue_named(config, tmp_path / "run")
    frame = pl.read_parquet(tmp_path / "run" / "predictions" / "mednli.parquet")
    assert task["n_reasoning_truncated"] == 0
    assert frame["reasoning"].to_list() == [THOUGHT] * frame.height
    assert frame["prediction"].is_in(["ENTAILMENT", "CONTRADICTION", "NEUTRAL"]).all(), frame["prediction"].to_list()
    expected = (frame["prediction"].str.to_lowercase() == frame["reference"].str.to_lowercase()).mean()
    assert task["metrics"]["accuracy"] == pytest.approx(expected), "only the answer is scored"


def clue_named(config: Path, out: Path) -> dict:
    proc = run_clue("run", "--endpoint", "think", "--config", str(config), "--tasks", "mednli", "--data-dir",
                    str(SAMPLES), "--limit", LIMIT, "--concurrency", "1", "--out", str(out), "--bootstrap", "20",
                    "--reasoning-budget", "16")
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "results.json").read_text())["tasks"]["mednli"]
