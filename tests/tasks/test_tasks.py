"""Tasks: exact messages (golden files, plus an independent rebuild of CLUE's recipe), the registry,
system folding, limits, and LongHealth's document budget against the test server's own tokenizer.

Golden files live in tests/tasks/golden/<task>.json. After a deliberate protocol change, rewrite them with
``CLUE_WRITE_GOLDEN=1 pytest tests/tasks/test_tasks.py`` and review the diff by eye.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import httpx
import polars as pl
import pytest

from clue_client.datasets import formats as datasets
from clue_client.serving import introspect as servers
from clue_client.errors import DataError, UserError
from clue_client.tasks import HANDOVER_SCHEMA, TASK_IDS, BuildContext, get_task, parse_tasks
from clue_client.tasks.longhealth import F_OPTION, SEPARATOR, user_budget
from fake_server import FakeServer

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
GOLDEN = Path(__file__).resolve().parent / "golden"
PROMPTS = json.loads((ROOT / "clue_client" / "tasks" / "prompts.json").read_text(encoding="utf-8"))


def _golden_view(frame: pl.DataFrame) -> list[dict]:
    return frame.drop("task").to_dicts()


@pytest.mark.parametrize("task_id", TASK_IDS)
async def test_golden_messages(task_id: str) -> None:
    # LongHealth: the first question only (15 prompts), estimate tokenizer, CLUE's 8k default context
    ctx = BuildContext(limit=1) if task_id == "longhealth" else BuildContext()
    frame = await get_task(task_id).build(SAMPLES, ctx)
    path = GOLDEN / f"{task_id}.json"
    if os.environ.get("CLUE_WRITE_GOLDEN") == "1":
        path.write_text(
            json.dumps(_golden_view(frame), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    assert _golden_view(frame) == json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("task_id", TASK_IDS)
async def test_handover_contract(task_id: str) -> None:
    frame = await get_task(task_id).build(SAMPLES, BuildContext())
    for name, dtype in HANDOVER_SCHEMA.items():
        assert frame.schema[name] == dtype, name
    assert set(frame["task"]) == {task_id}
    assert frame["sample_id"].n_unique() == frame.height
    if task_id == "longhealth":
        assert frame.schema["lh_task"] == pl.Int64 and frame.schema["truncated"] == pl.Boolean
        assert frame.schema["cut_tokens"] == pl.Int64
        assert frame["group_id"].n_unique() == 9  # 3 patients x 3 questions
    else:
        assert frame["group_id"].to_list() == frame["sample_id"].to_list()


def _clue_recipe(task: str, records: list[dict], k: int) -> list[list[dict]]:
    """CLUE's steps written out plainly from the protocol: seed, shuffle records, k examples, the rest."""
    spec = PROMPTS[task]
    random.seed(1)
    random.shuffle(records)
    chat = [{"role": "system", "content": spec["sys_prompt"]}]
    for ex in records[:k]:
        chat += [
            {"role": "user", "content": spec["user_prompt_template"].format(**ex)},
            {"role": "assistant", "content": spec["assistant_response_template"].format(**ex)},
        ]
    return [
        chat + [{"role": "user", "content": spec["user_prompt_template"].format(**r)}] for r in records[k:]
    ]


async def test_mednli_matches_clue_recipe() -> None:
    records = [json.loads(x) for x in (SAMPLES / "MedNLI" / "mli_test_v1.jsonl").read_text().splitlines()]
    frame = await get_task("mednli").build(SAMPLES, BuildContext())
    assert frame["messages"].to_list() == _clue_recipe("mednli", records, 3)
    assert frame["max_tokens"].unique().to_list() == [20]


async def test_medisumcode_matches_clue_recipe() -> None:
    lines = (SAMPLES / "MeDiSumCode" / "MeDiSumCode.json").read_text().splitlines()
    records = [
        {"text": r["text"], "codes": ", ".join(c["code"] for c in r["icd_codes"])}
        for r in map(json.loads, lines)
    ]
    frame = await get_task("medisumcode").build(SAMPLES, BuildContext())
    expected = _clue_recipe("medisumcode", [dict(r) for r in records], 1)
    assert frame["messages"].to_list() == expected
    assert expected[0][2]["content"].startswith("ICD-10 Codes: ")
    random.seed(1)
    random.shuffle(records)
    assert frame["reference"].to_list() == [r["codes"] for r in records[1:]]


async def test_problem_summary_semicolons_become_commas() -> None:
    frame = await get_task("problem_summary").build(SAMPLES, BuildContext())
    refs = frame["reference"].to_list()
    assert "Hyponatremia, Delirium, " in refs  # trailing ';' kept as ', ' (CLUE's strip is a no-op)
    assert not any(
        ";" in m["content"] for msgs in frame["messages"].to_list() for m in msgs if m["role"] == "assistant"
    )


async def test_fold_system_for_templates_without_system_role() -> None:
    plain = await get_task("meqsum").build(SAMPLES, BuildContext())
    folded = await get_task("meqsum").build(SAMPLES, BuildContext(fold_system=True))
    for a, b in zip(plain["messages"].to_list(), folded["messages"].to_list()):
        assert b[0] == {"role": "user", "content": a[0]["content"] + "\n\n" + a[1]["content"]}
        assert b[1:] == a[2:]
        assert all(m["role"] != "system" for m in b)
    lh = await get_task("longhealth").build(SAMPLES, BuildContext(limit=1, fold_system=True))
    first = lh["messages"][0].to_list()
    assert [m["role"] for m in first] == ["user"]
    assert first[0]["content"].startswith(
        PROMPTS["longhealth"]["sys_prompt"] + "\n--------------BEGIN DOCUMENTS"
    )


async def test_limit_counts_scored_samples_and_longhealth_questions() -> None:
    full = await get_task("mednli").build(SAMPLES, BuildContext())
    two = await get_task("mednli").build(SAMPLES, BuildContext(limit=2))
    assert two.equals(full.head(2))
    lh = await get_task("longhealth").build(SAMPLES, BuildContext(limit=2))
    assert lh.height == 30 and lh["group_id"].n_unique() == 2
    assert (await get_task("mednli").build(SAMPLES, BuildContext(limit=0))).height == 0


def test_registry() -> None:
    assert TASK_IDS == ("mednli", "meqsum", "problem_summary", "longhealth", "medisumqa", "medisumcode")
    assert [t.id for t in parse_tasks("all")] == list(TASK_IDS)
    assert [t.id for t in parse_tasks("meqsum, mednli,meqsum")] == ["meqsum", "mednli"]
    assert get_task("problem-summary").id == "problem_summary"
    assert [get_task(t).level for t in TASK_IDS] == [1, 1, 1, 2, 2, 2]
    assert [get_task(t).credentialed for t in TASK_IDS] == [True, False, True, False, True, True]
    assert get_task("longhealth").data_path == "LongHealth/benchmark_v5.json"
    with pytest.raises(UserError, match="unknown task 'nli'; choose from mednli, meqsum"):
        parse_tasks("mednli,nli")
    with pytest.raises(UserError, match="no tasks"):
        parse_tasks(" , ")
    with pytest.raises(UserError, match="cannot be combined"):
        parse_tasks("all,mednli")


async def test_too_few_records_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "MedNLI").mkdir()
    lines = (SAMPLES / "MedNLI" / "mli_test_v1.jsonl").read_text().splitlines()[:3]
    (tmp_path / "MedNLI" / "mli_test_v1.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="3 records; mednli needs more than 3"):
        await get_task("mednli").build(tmp_path, BuildContext())


# ---- LongHealth ----------------------------------------------------------------------------------
def _raw_longhealth() -> dict:
    return json.loads((SAMPLES / "LongHealth" / "benchmark_v5.json").read_text())


async def test_longhealth_structure() -> None:
    raw = _raw_longhealth()
    frame = await get_task("longhealth").build(SAMPLES, BuildContext())
    q1 = frame.filter(pl.col("group_id") == "patient_02/q2")
    assert q1["lh_task"].to_list() == [1] * 5 + [3, 2] * 5
    assert q1["reference"].to_list() == ["D"] * 5 + ["F", "D"] * 5
    own = set(raw["patient_02"]["texts"].values())
    others = {t for pid, p in raw.items() if pid != "patient_02" for t in p["texts"].values()}
    for row in q1.iter_rows(named=True):
        user = row["messages"][1]["content"]
        docs = (
            user.split("--------------BEGIN DOCUMENTS--------------\n\n")[1]
            .split("\n\n--------------END DOCUMENTS--------------")[0]
            .split(SEPARATOR)
        )
        has_f = f"\nF: {F_OPTION}\n" in user
        if row["lh_task"] == 1:
            assert set(docs) == own and not has_f  # small samples: every text of the patient fits
        elif row["lh_task"] == 3:
            assert set(docs) <= others and len(docs) == 6 and has_f  # distractors only, all 6 other texts
        else:
            answer = {raw["patient_02"]["texts"]["text_1"], raw["patient_02"]["texts"]["text_2"]}
            assert answer <= set(docs) and set(docs) - answer <= others and has_f


async def test_longhealth_is_seeded() -> None:
    a = await get_task("longhealth").build(SAMPLES, BuildContext())
    b = await get_task("longhealth").build(SAMPLES, BuildContext())
    c = await get_task("longhealth").build(SAMPLES, BuildContext(seed=2))
    assert a.equals(b)
    assert a["messages"].to_list() != c["messages"].to_list()


@pytest.mark.parametrize("context", [4096, 700, 600, 500])
async def test_longhealth_budget_never_exceeds_the_servers_context(context: int) -> None:
    """Count every prompt with the test server's own tokenizer and chat accounting."""
    max_tokens = PROMPTS["longhealth"]["max_tokens"]
    with FakeServer(context_length=context) as server:
        async with httpx.AsyncClient() as client:
            kind = await servers.detect_kind(client, server.base_url)
            served = await servers.context_length(client, server.base_url, kind)
            tokenizer = servers.make_tokenizer(client, server.base_url, kind, server.model)
            frame = await get_task("longhealth").build(
                SAMPLES, BuildContext(tokenizer=tokenizer, context_length=served)
            )
        sys_tokens = len(server.token_ids(PROMPTS["longhealth"]["sys_prompt"]))
        budget = user_budget(context, sys_tokens, max_tokens)
        for row in frame.iter_rows(named=True):
            assert server.count_prompt(row["messages"]) + max_tokens <= context
            assert len(server.token_ids(row["messages"][1]["content"])) <= budget
    if context == 4096:
        assert not frame["truncated"].any() and frame["cut_tokens"].sum() == 0
    else:
        cut = frame.filter("truncated")
        assert cut.height > 0 and (cut["cut_tokens"] > 0).all()
        assert (frame.filter(~pl.col("truncated"))["cut_tokens"] == 0).all()


async def test_longhealth_cut_is_a_prefix_and_counted() -> None:
    raw = _raw_longhealth()
    texts = [t for p in raw.values() for t in p["texts"].values()]
    with FakeServer(context_length=600) as server:
        async with httpx.AsyncClient() as client:
            tokenizer = servers.make_tokenizer(client, server.base_url, "vllm", server.model)
            frame = await get_task("longhealth").build(
                SAMPLES, BuildContext(tokenizer=tokenizer, context_length=600)
            )
        row = frame.filter("truncated").row(0, named=True)
        user = row["messages"][1]["content"]
        docs = user.split("BEGIN DOCUMENTS--------------\n\n")[1].split("\n\n--------------END DOCUMENTS")[0]
        pieces = docs.split(SEPARATOR)
        partial = [p for p in pieces if p not in texts]
        assert len(partial) == 1
        whole = next(t for t in texts if t.startswith(partial[0]))
        assert len(server.token_ids(whole)) - len(server.token_ids(partial[0])) == row["cut_tokens"]


async def test_longhealth_context_too_small_is_one_clear_error() -> None:
    with pytest.raises(UserError, match="longhealth: context length 200 leaves no room"):
        await get_task("longhealth").build(SAMPLES, BuildContext(context_length=200))
    with FakeServer(context_length=450) as server:
        async with httpx.AsyncClient() as client:
            tokenizer = servers.make_tokenizer(client, server.base_url, "tgi", server.model)
            with pytest.raises(UserError, match="context is too small for question"):
                await get_task("longhealth").build(
                    SAMPLES, BuildContext(tokenizer=tokenizer, context_length=450)
                )


REAL_MEQSUM = ROOT.parent / "shared" / "data" / "MeQSum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"


@pytest.mark.skipif(
    not REAL_MEQSUM.is_file(),
    reason=f"the real MeQSum file is not in this checkout's shared data folder ({REAL_MEQSUM}); "
    "it is not redistributed with the package",
)
async def test_real_meqsum_task(tmp_path: Path) -> None:
    (tmp_path / "MeQSum").mkdir()
    (tmp_path / "MeQSum" / REAL_MEQSUM.name).symlink_to(REAL_MEQSUM)
    frame = await get_task("meqsum").build(tmp_path, BuildContext())
    assert frame.height == 997
    records = {r["File"]: r for r in datasets.load_meqsum(REAL_MEQSUM).to_dicts()}
    assert len(records) == 1000  # File is unique, so positions below are file positions
    shots = ["12479.txt", "1-135820815.xml.txt", "10263.xml.txt"]
    messages = frame["messages"][0].to_list()
    assert [m["content"] for m in messages[2:7:2]] == [records[f]["Summary"] for f in shots]
    assert all(records[f]["CHQ"] in m["content"] for f, m in zip(shots, messages[1:6:2]))
    few_shot_rows = {str(i) for i, f in enumerate(records) if f in shots}
    assert not few_shot_rows & set(frame["sample_id"])
    assert frame["messages"].list.len().unique().to_list() == [8]
