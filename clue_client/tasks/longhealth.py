"""LongHealth (level 2): multiple-choice questions over long, fictional patient records; no few-shot.

Per question (CLUE's recipe, see CLUE_PROTOCOL.md):
- task 1, 5 prompts: the answer documents, then the patient's other texts, while they fit the budget;
  the first one that does not fit is cut to what is left, then selection stops; the selected documents
  are shuffled. Options A-E; expected the letter of the first option containing ``correct``.
- tasks 2 and 3, 10 draws: each draws 10 texts of *other* patients as distractors. Even draws are task 3
  (distractors only, expected ``F``), odd draws task 2 (answer documents plus distractors). Options A-F.

Budget (see ``budget``): CLUE's 8k setting, ``max_len`` 8,140 prompt tokens minus the system prompt's, for
all three tasks and on every server (CLUE 2024, the published table); a server whose context is smaller
shrinks it to the context minus ``max_tokens`` (50), ``TEMPLATE_RESERVE`` and the system prompt. Another
``max_len`` can be set, or ``max``: the served context (as CLUE's 2025 code does for tasks 2 and 3). Tokens
are counted by the served model's tokenizer when the server has one, else a calibrated estimate; every
prompt is re-counted whole after assembly and its last document trimmed if the parts under-counted, so no
prompt exceeds the budget.

Under CLUE 2024 (``BuildContext.protocol``): the budget is not shrunk to a smaller served context (2024
truncates task 1 on the server and sends tasks 2 and 3 whole), it counts the longer separator 2024 counted,
the expected letter is the *last* option containing ``correct`` (option F included for tasks 2 and 3), and
the prompt is rendered on the client in one of 2024's three forms (system turn; ``sys_prompt + prompt`` as
one user turn; a base model's ``sys_prompt + "\n\n\n" + prompt``).

Unlike CLUE, the document shuffles and the distractor draws are seeded (``random.Random`` keyed by the
run seed, patient and question), so a rerun sends the same prompts and ``limit`` does not change them.
Each sample records whether a document was cut (``truncated``) and by how many tokens (``cut_tokens``).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from ..datasets.formats import LONGHEALTH_OPTIONS, load_longhealth
from ..errors import UserError
from ..protocols import CLUE_2025, Protocol
from .base import BuildContext, Task, client_prompt, declare, fold_system, handover_frame, prompts
from .tokens import EstimateTokenizer, Tokenizer

__all__ = ["TASK", "SEPARATOR", "F_OPTION", "TEMPLATE_RESERVE", "CLUE_MAX_LEN", "Budget", "budget", "user_budget"]

SEPARATOR = "\n\n--------------\n\n"
F_OPTION = "Question cannot be answered with provided documents"
TASK1_PROMPTS = 5
TASK23_DRAWS = 10
DISTRACTORS = 10
#: Tokens kept free for the chat template's role markers and special tokens.
TEMPLATE_RESERVE = 32
#: CLUE's 8k setting: prompt tokens, system prompt included (``--max_len 8140``, run_LongHealth8k.sh).
CLUE_MAX_LEN = 8140
_EXTRAS = {"lh_task": pl.Int64, "truncated": pl.Boolean, "cut_tokens": pl.Int64}


def user_budget(context_length: int, system_tokens: int, max_tokens: int) -> int:
    """Tokens the user prompt may take so that system + user + template + answer fit the context."""
    return context_length - max_tokens - TEMPLATE_RESERVE - system_tokens


@dataclass(frozen=True)
class Budget:
    """The user-prompt budget of every LongHealth prompt and why it is that (recorded in the manifest)."""

    setting: str  # "clue" (8,140), "max" (the served context) or a number of prompt tokens
    user_tokens: int
    system_tokens: int
    context_length: int | None
    reason: str


def budget_setting(value: int | str | None) -> str:
    """The setting as text ('clue', 'max' or a positive token count); anything else is a user error."""
    if value is None or value == "clue":
        return "clue"
    if value == "max":
        return "max"
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n <= 0:
        raise UserError(f"--longhealth-budget: '{value}' is not a positive number of tokens or 'max'")
    return str(n)


async def budget(tokenizer: Tokenizer, context_length: int | None, setting: int | str | None = None,
                 protocol: Protocol = CLUE_2025) -> Budget:
    """The budget for ``setting`` (None: CLUE's 8k setting), shrunk to the served context when that is smaller
    and the protocol fits budgets to the context."""
    chosen = budget_setting(setting)
    spec = prompts("longhealth", protocol)
    system = (await tokenizer.count([spec["sys_prompt"]]))[0]
    served = user_budget(context_length, system, int(spec["max_tokens"])) if context_length else None
    if chosen == "max":
        if served is None:
            raise UserError("--longhealth-budget max needs the served context length: this server does not report "
                            "one; set context_length for the endpoint in endpoints.toml")
        reason = f"the served context ({context_length} tokens) minus answer, template and system prompt"
        return Budget(chosen, served, system, context_length, reason)
    max_len = CLUE_MAX_LEN if chosen == "clue" else int(chosen)
    label = f"CLUE's 8k setting (max_len {CLUE_MAX_LEN})" if chosen == "clue" else f"--longhealth-budget {max_len}"
    wanted = max_len - system
    if not protocol.longhealth_fits_context:
        return Budget(chosen, wanted, system, context_length, f"{label} minus the system prompt's {system} tokens, "
                      f"not shrunk to the served context (protocol {protocol.name})")
    if served is not None and served < wanted:
        reason = (f"{label} shrunk to the served context ({context_length} tokens) minus answer, "
                  "template and system prompt")
        return Budget(chosen, served, system, context_length, reason)
    return Budget(chosen, wanted, system, context_length, f"{label} minus the system prompt's {system} tokens")


@dataclass
class _Composer:
    """Selects, cuts and shuffles documents for one prompt within the user-prompt budget."""

    tokenizer: Tokenizer
    template: str
    budget: int
    counts: dict[str, int]
    separator_tokens: int
    _fixed: dict[tuple[str, str], int] = field(default_factory=dict)

    async def _count(self, text: str) -> int:
        if text not in self.counts:
            self.counts[text] = (await self.tokenizer.count([text]))[0]
        return self.counts[text]

    def _render(self, docs: list[str], question: str, options: str) -> str:
        return self.template.format(documents=SEPARATOR.join(docs), question_text=question, options=options)

    async def compose(
        self, first: list[str], rest: list[str], question: str, options: str, rng: random.Random
    ) -> tuple[str, bool, int]:
        """(user prompt, whether a document was cut, tokens cut)."""
        key = (question, options)
        if key not in self._fixed:
            self._fixed[key] = await self._count(self._render([], question, options))
        room = self.budget - self._fixed[key]
        if room < 0:
            raise UserError(
                f"longhealth: the context is too small for question {question[:40]!r} and its options"
            )
        selected: list[str] = []
        originals: list[int] = []
        used, truncated, cut = 0, False, 0
        for doc in [*first, *rest]:
            n = await self._count(doc)
            extra = self.separator_tokens if selected else 0
            if used + extra + n <= room:
                selected.append(doc)
                originals.append(n)
                used += extra + n
                continue
            truncated, keep = True, room - used - extra
            if keep > 0:
                piece = await self.tokenizer.truncate(doc, keep)
                selected.append(piece)
                originals.append(n)
                cut = n - await self._count(piece)
            else:
                cut = n
            break
        order = list(range(len(selected)))
        rng.shuffle(order)
        return await self._fit(selected, originals, order, question, options, truncated, cut)

    async def _fit(
        self,
        selected: list[str],
        originals: list[int],
        order: list[int],
        question: str,
        options: str,
        truncated: bool,
        cut: int,
    ) -> tuple[str, bool, int]:
        """Re-count the whole prompt; if the parts under-counted, trim the last selected document."""
        for _ in range(8):
            prompt = self._render([selected[i] for i in order], question, options)
            over = (await self.tokenizer.count([prompt]))[0] - self.budget
            if over <= 0:
                return prompt, truncated, cut
            if not selected:
                break
            last = len(selected) - 1
            have = await self._count(selected[last])
            selected[last] = await self.tokenizer.truncate(selected[last], max(have - over - 1, 0))
            truncated = True
            cut = originals[last] - await self._count(selected[last])
        raise UserError(f"longhealth: cannot fit question {question[:40]!r} into the context")


def _options(question: Mapping[str, Any], with_f: bool) -> str:
    lines = [f"{name[-1].upper()}: {question[name]}" for name in LONGHEALTH_OPTIONS]
    if with_f:
        lines.append(f"F: {F_OPTION}")
    return "\n".join(lines)


def _expected(question: Mapping[str, Any], with_f: bool = False, last: bool = False) -> str:
    """The first (``last``: the last) option whose text contains ``correct``, option F among them when
    ``with_f``; "" when none does (no answer can match: wrong)."""
    texts = [(name[-1].upper(), question[name]) for name in LONGHEALTH_OPTIONS] + ([("F", F_OPTION)] if with_f else [])
    found = [letter for letter, text in texts if question["correct"] in text]
    return (found[-1] if last else found[0]) if found else ""


async def _question_rows(
    composer: _Composer,
    spec: Mapping[str, Any],
    ctx: BuildContext,
    patient: Mapping[str, Any],
    qi: int,
    distractor_pool: list[str],
) -> list[dict[str, Any]]:
    pid, question = patient["patient_id"], patient["questions"][qi]
    rng = random.Random(f"{ctx.seed}:{pid}:{qi}")
    texts = {t["text_id"]: t["text"] for t in patient["texts"]}
    answer_docs = [texts[t] for t in question["answer_location"]]
    other_docs = [body for tid, body in texts.items() if tid not in question["answer_location"]]
    last = ctx.protocol.longhealth_last_expected
    letter, group = _expected(question, last=last), f"{pid}/q{qi + 1}"
    letter_f = _expected(question, with_f=True, last=last) if last else letter
    plans: list[tuple[int, str, list[str], list[str], str]] = []
    for j in range(TASK1_PROMPTS):
        plans.append((1, f"{group}/t1/{j}", answer_docs, other_docs, letter))
    for j in range(TASK23_DRAWS):
        distractors = rng.sample(distractor_pool, min(DISTRACTORS, len(distractor_pool)))
        if j % 2 == 0:
            plans.append((3, f"{group}/t23/{j}", [], distractors, "F"))
        else:
            plans.append((2, f"{group}/t23/{j}", answer_docs, distractors, letter_f))
    rows = []
    for lh_task, sample_id, first, rest, expected in plans:
        options = _options(question, with_f=lh_task != 1)
        prompt, truncated, cut = await composer.compose(first, rest, question["question"], options, rng)
        messages = [{"role": "system", "content": spec["sys_prompt"]}, {"role": "user", "content": prompt}]
        if ctx.fold_system:
            messages = fold_system(messages, joiner="")  # CLUE folds LongHealth as sys_prompt + prompt
        row = {"task": "longhealth", "sample_id": sample_id, "group_id": group, "messages": messages,
               "max_tokens": int(spec["max_tokens"]), "reference": expected, "lh_task": lh_task,
               "truncated": truncated, "cut_tokens": cut}
        if ctx.protocol.client_renders:
            if ctx.base_model:
                row["prompt"] = spec["base_model_input"].format(sys_prompt=spec["sys_prompt"], prompt=prompt)
                row["messages"] = [{"role": "user", "content": row["prompt"]}]
            else:
                row["prompt"] = client_prompt(ctx, messages)
        rows.append(row)
    return rows


async def _build(task: Task, data_dir: Path, ctx: BuildContext) -> pl.DataFrame:
    patients = load_longhealth(data_dir / task.data_path).to_dicts()
    spec = prompts("longhealth", ctx.protocol)
    tokenizer = ctx.tokenizer or EstimateTokenizer()
    all_texts = [t["text"] for p in patients for t in p["texts"]]
    counted = ctx.protocol.longhealth_counted_separator or SEPARATOR
    sep_tokens, *text_counts = await tokenizer.count([counted, *all_texts])
    # a reasoning budget is output too: the served context must hold the thoughts beside the documents
    context = ctx.context_length - ctx.output_reserve if ctx.context_length else None
    room = (await budget(tokenizer, context, ctx.longhealth_budget, ctx.protocol)).user_tokens
    if room <= 0:
        raise UserError(f"longhealth: context length {ctx.context_length} leaves no room for a prompt")
    composer = _Composer(
        tokenizer, spec["user_prompt_template"], room, dict(zip(all_texts, text_counts)), sep_tokens
    )
    jobs = []
    for p in patients:
        pool = [
            t["text"] for other in patients if other["patient_id"] != p["patient_id"] for t in other["texts"]
        ]
        jobs.extend((p, qi, pool) for qi in range(len(p["questions"])))
    if ctx.limit is not None:
        jobs = jobs[: max(ctx.limit, 0)]
    pending = [
        asyncio.ensure_future(_question_rows(composer, spec, ctx, p, qi, pool)) for p, qi, pool in jobs
    ]
    try:
        groups = await asyncio.gather(*pending)
    except BaseException:  # one question failed: stop the others before the error leaves
        for job in pending:
            job.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        raise
    extras = {**_EXTRAS, **({"prompt": pl.Utf8} if ctx.protocol.client_renders else {})}
    return handover_frame((row for rows in groups for row in rows), extras)


TASK = declare("longhealth", builder=_build, title="LongHealth")
