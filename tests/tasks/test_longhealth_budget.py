"""LongHealth's document budget: CLUE's 8k setting on every server, shrunk by a smaller one, or chosen.

Prompts are built against the loopback test server (a 32k context unless said otherwise) from a LongHealth
file whose fictional documents are long enough for the budget to bind; lengths are the server's own counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from clue_client.errors import UserError
from clue_client.serving import introspect
from clue_client.tasks import BuildContext, get_task
from clue_client.tasks.base import prompts
from clue_client.tasks.longhealth import CLUE_MAX_LEN, budget
from clue_client.tasks.tokens import EstimateTokenizer
from conftest import SAMPLES, run_clue
from fake_server import FakeServer

WORDS = "the fictional patient reported mild pain after surgery and was given fluids overnight".split()


def long_longhealth(root: Path, words_per_doc: int = 3000) -> Path:
    """The sample file's patients and questions with every document made ``words_per_doc`` words long."""
    data = json.loads((SAMPLES / "LongHealth" / "benchmark_v5.json").read_text())
    for patient in data.values():
        for i, tid in enumerate(patient["texts"]):
            filler = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(words_per_doc))
            patient["texts"][tid] = patient["texts"][tid] + " " + filler
    (root / "LongHealth").mkdir(parents=True)
    (root / "LongHealth" / "benchmark_v5.json").write_text(json.dumps(data))
    return root


async def _user_lengths(server: FakeServer, data: Path, setting: str | None) -> list[int]:
    async with httpx.AsyncClient() as client:
        tokenizer = introspect.make_tokenizer(client, server.base_url, "vllm", server.model)
        ctx = BuildContext(tokenizer=tokenizer, context_length=server.context_length, limit=1,
                           longhealth_budget=setting)
        frame = await get_task("longhealth").build(data, ctx)
    return [len(server.token_ids(m[-1]["content"])) for m in frame["messages"].to_list()]


def _system_tokens(server: FakeServer) -> int:
    return len(server.token_ids(prompts("longhealth")["sys_prompt"]))


async def test_clue_budget_on_a_32k_server_and_max_fills_the_context(tmp_path: Path) -> None:
    data = long_longhealth(tmp_path)
    with FakeServer(context_length=32768) as server:
        clue = await _user_lengths(server, data, None)
        wide = await _user_lengths(server, data, "max")
        narrow = await _user_lengths(server, data, "3000")
        system = _system_tokens(server)
    assert max(clue) <= CLUE_MAX_LEN - system and max(clue) > CLUE_MAX_LEN - system - 100
    assert max(wide) > CLUE_MAX_LEN  # the documents are long enough to pass the 8k setting
    assert max(narrow) <= 3000 - system and max(narrow) > 3000 - system - 100


async def test_a_smaller_served_context_shrinks_the_budget(tmp_path: Path) -> None:
    data = long_longhealth(tmp_path)
    with FakeServer(context_length=4096) as server:
        lengths = await _user_lengths(server, data, None)
        async with httpx.AsyncClient() as client:
            tokenizer = introspect.make_tokenizer(client, server.base_url, "vllm", server.model)
            chosen = await budget(tokenizer, 4096)
        system = _system_tokens(server)
    room = 4096 - prompts("longhealth")["max_tokens"] - 32 - system
    assert chosen.user_tokens == room and max(lengths) <= room and "shrunk to the served context" in chosen.reason


async def test_without_a_tokenizer_or_context_the_budget_is_still_clues() -> None:
    estimate = EstimateTokenizer()
    chosen = await budget(estimate, None)
    system = (await estimate.count([prompts("longhealth")["sys_prompt"]]))[0]
    assert (chosen.setting, chosen.user_tokens, chosen.context_length) == ("clue", CLUE_MAX_LEN - system, None)
    with pytest.raises(UserError, match="--longhealth-budget max needs the served context length"):
        await budget(estimate, None, "max")
    for bad in ("0", "-5", "lots"):
        with pytest.raises(UserError, match="not a positive number of tokens or 'max'"):
            await budget(estimate, 8192, bad)


def test_the_manifest_records_the_budget_and_a_typo_is_one_line(tmp_path: Path) -> None:
    with FakeServer(context_length=32768) as server:
        out = tmp_path / "run"
        proc = run_clue("run", "--endpoint", server.base_url, "--tasks", "longhealth", "--limit", "1",
                        "--data-dir", str(SAMPLES), "--out", str(out), "--longhealth-budget", "3000",
                        "--bootstrap", "0")
        assert proc.returncode == 0, proc.stderr
        sent = sum(server.requests.values())
        bad = run_clue("run", "--endpoint", server.base_url, "--tasks", "longhealth", "--data-dir", str(SAMPLES),
                       "--out", str(tmp_path / "bad"), "--longhealth-budget", "lots")
        assert sum(server.requests.values()) == sent, "a bad budget sends nothing"
    recorded = json.loads((out / "manifest.json").read_text())["longhealth_budget"]
    assert recorded["setting"] == "3000" and recorded["context_length"] == 32768
    assert recorded["user_tokens"] == 3000 - recorded["system_tokens"]
    assert recorded["tokens"] == "counted by the server's own tokenizer (llamacpp /tokenize)"  # it answers /props
    report = run_clue("report", str(out))
    assert report.returncode == 0, report.stderr
    assert (f"longhealth prompts had {recorded['user_tokens']} user-prompt tokens: --longhealth-budget 3000 minus "
            "the system prompt's") in report.stdout
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == ["clue run: error: argument --longhealth-budget: 'lots' is not a "
                                               "positive number of tokens or 'max'"]
