"""LongHealth under CLUE 2024: the budget is not shrunk to a smaller served context, it counts 2024's longer
separator, the expected letter is the last option containing the answer (F included for tasks 2 and 3), and
the prompt is rendered in 2024's three forms."""

from __future__ import annotations

import httpx
import polars as pl

from chat_templates import LLAMA3_STYLE, LLAMA3_TOKENS
from clue_client.protocols import CLUE_2024, CLUE_2025
from clue_client.protocols.render import ChatTemplate
from clue_client.serving import introspect
from clue_client.tasks import BuildContext, get_task
from clue_client.tasks.base import prompts
from clue_client.tasks.longhealth import CLUE_MAX_LEN, F_OPTION, _expected, budget
from conftest import SAMPLES
from fake_server import FakeServer
from test_longhealth_budget import long_longhealth

QUESTION = {"correct": "pain", "answer_a": "chest pain", "answer_b": "fever", "answer_c": "back pain", "answer_d": "x",
            "answer_e": "y"}


def test_expected_letter_first_or_last() -> None:
    assert (_expected(QUESTION), _expected(QUESTION, last=True)) == ("A", "C")
    tricky = {**QUESTION, "correct": "answered"}  # a substring of option F's text only
    assert F_OPTION.find("answered") > 0
    assert (_expected(tricky, with_f=True, last=True), _expected(tricky)) == ("F", "")


async def test_budget_is_not_shrunk_and_counts_2024s_separator(tmp_path) -> None:
    data = long_longhealth(tmp_path)
    template = ChatTemplate(LLAMA3_STYLE, LLAMA3_TOKENS)
    with FakeServer(context_length=4096) as server:
        async with httpx.AsyncClient() as client:
            tokenizer = introspect.make_tokenizer(client, server.base_url, "vllm", server.model)
            chosen = await budget(tokenizer, 4096, None, CLUE_2024)
            shrunk = await budget(tokenizer, 4096, None, CLUE_2025)
            ctx = BuildContext(tokenizer=tokenizer, context_length=4096, limit=1, protocol=CLUE_2024, chat_template=template)
            frame = await get_task("longhealth").build(data, ctx)
        system = len(server.token_ids(prompts("longhealth")["sys_prompt"]))
        users = [len(server.token_ids(m[-1]["content"])) for m in frame["messages"].to_list()]
    assert chosen.user_tokens == CLUE_MAX_LEN - system and shrunk.user_tokens < 4096
    assert max(users) > 4096 and max(users) <= CLUE_MAX_LEN - system  # 2024's 8k prompts, whatever the context
    assert frame["prompt"].str.starts_with("<|begin_of_text|><|start_header_id|>system").all()


async def test_three_forms_and_expected_letters_over_the_sample() -> None:
    template = ChatTemplate(LLAMA3_STYLE, LLAMA3_TOKENS)
    forms = {}
    for name, extra in {"system": {}, "folded": {"fold_system": True}, "base": {"base_model": True}}.items():
        ctx = BuildContext(limit=1, protocol=CLUE_2024, chat_template=template, **extra)
        forms[name] = await get_task("longhealth").build(SAMPLES, ctx)
    sys_prompt = prompts("longhealth", CLUE_2024)["sys_prompt"]
    system, folded, base = (forms[n].row(0, named=True) for n in ("system", "folded", "base"))
    user = system["messages"][1]["content"]
    assert system["prompt"] == template.render(system["messages"])
    assert folded["messages"] == [{"role": "user", "content": sys_prompt + user}]  # joined without a separator
    assert base["prompt"] == sys_prompt + "\n\n\n" + user and "<|" not in base["prompt"]
    references = forms["system"].group_by("lh_task").agg(pl.col("reference").unique())
    assert sorted(references.filter(pl.col("lh_task") == 3)["reference"][0]) == ["F"]
