"""CLUE 2024 end to end on the embedded llama.cpp server (the bundled Gemma 3 270M), beside a 2025 run of the
same samples: the 2024 run reads the chat template from the server's /props, renders the prompt on the client
(equal to what the server itself renders for the same messages) and sends it raw to /v1/completions.

Slow (a real model on 2 shared cores): one MedNLI sample per protocol, 20 answer tokens each.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import polars as pl
import pytest

from clue_client.protocols.render import ChatTemplate
from clue_client.serving.local import GEMMA_JINJA, LocalServerSettings, local_server
from clue_client.tasks.base import shuffled
from conftest import run_clue

pytestmark = pytest.mark.slow
ARGS = ("--endpoint", "local", "--tasks", "mednli", "--limit", "1", "--bootstrap", "0")


def test_2024_and_2025_runs_of_the_same_sample(tmp_path: Path) -> None:
    runs = {}
    for protocol in ("2024", "2025"):
        out = tmp_path / protocol
        done = run_clue("run", *ARGS, "--protocol", protocol, "--out", str(out), timeout=1500)
        assert done.returncode == 0, done.stderr
        assert f"protocol {protocol}: TIO-IKIM/CLUE" in done.stdout
        runs[protocol] = (json.loads((out / "manifest.json").read_text()), json.loads((out / "results.json").read_text()),
                          pl.read_parquet(out / "predictions" / "mednli.parquet"))
    (m24, r24, p24), (m25, r25, p25) = runs["2024"], runs["2025"]
    assert (m24["protocol"], m24["wire"], m24["chat_template"]["origin"]) == ("2024", "completions", "server /props")
    assert m25["protocol"] == "2025" and "wire" not in m25
    assert r24["protocol"] == "2024" and r25["protocol"] == "2025"
    assert r24["tasks"]["mednli"]["n"] == r25["tasks"]["mednli"]["n"] == 1
    assert r24["tasks"]["mednli"]["n_truncated_input"] == 0 and "n_truncated_input" not in r25["tasks"]["mednli"]
    # 2024 scores the file's 4th record (the first 3 are the examples), 2025 the 4th after its seeded shuffle
    assert p24["sample_id"].to_list() == ["3"] and p25["sample_id"].to_list() == [str(shuffled(8, 1)[3])]
    prompt = p24["prompt"][0]
    assert prompt.startswith("<start_of_turn>user\nYou are a highly skilled assistant") and prompt.endswith(
        "<start_of_turn>model\n")
    assert isinstance(p24["prediction"][0], str) and isinstance(p25["prediction"][0], str)


def test_the_client_renders_what_the_server_renders() -> None:
    """The Jinja form of the built-in Gemma template: /props tells it, our renderer and the server agree."""
    messages = [{"role": "system", "content": "Be terse. "}, {"role": "user", "content": " Hello "},
                {"role": "assistant", "content": "Hi"}, {"role": "user", "content": "Again"}]
    with local_server(LocalServerSettings(slots=1, context_length=1024)) as builtin:
        expected = httpx.post(f"{builtin.root_url}/apply-template", json={"messages": messages}).json()["prompt"]
    with local_server(LocalServerSettings(slots=1, context_length=1024, chat_template=GEMMA_JINJA)) as jinja:
        served = httpx.post(f"{jinja.root_url}/apply-template", json={"messages": messages}).json()["prompt"]
        props = httpx.get(f"{jinja.root_url}/props").json()
    ours = ChatTemplate(props["chat_template"], {"bos_token": props["bos_token"]}).render(messages)
    assert ours == served == expected
    assert expected.startswith("<start_of_turn>user\nBe terse.\n\nHello<end_of_turn>\n")
