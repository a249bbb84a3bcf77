"""CLUE 2024's prompts, byte for byte: CLUE's own prompt-building code at ff75877 (tests/clue_ff75877/, MIT,
verbatim) runs with a transformers tokenizer carrying a Llama-3-style or a Gemma-style chat template over the
sample data of the five few-shot tasks, in the three prompt forms; our raw prompts must equal its model inputs.

The data files go to CLUE's code the way its evaluators need them: MeDiSumCode as a JSON array (the sample
is JSON lines, which ``json.load`` cannot read), MeDiSumQA with ``without_discharge_summary`` filled from
``discharge_summary`` (the sample, like the PhysioNet release, lacks it: our client makes the same
substitution and counts it). The first scored prompt of each task (Llama-3-style template, system turn) is
written to test-artifacts/protocol-2024-prompts/ for people to read.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from chat_templates import TEMPLATES, hf_tokenizer
from clue_client.protocols import CLUE_2024
from clue_client.protocols.render import ChatTemplate
from clue_client.tasks import BuildContext, get_task
from conftest import REPO, SAMPLES

ARTIFACTS = REPO / "test-artifacts" / "protocol-2024-prompts"
FEW_SHOT = {"mednli": 3, "meqsum": 3, "problem_summary": 3, "medisumqa": 1, "medisumcode": 1}
FORMS = {  # CLUE 2024's flags: --model_is_instruct, --model_has_system
    "system": {"model_is_instruct": True, "model_has_system": True},
    "folded": {"model_is_instruct": True, "model_has_system": False},
    "base": {"model_is_instruct": False, "model_has_system": False},
}


def _clue_data(task_id: str, tmp_path: Path) -> Path:
    path = SAMPLES / get_task(task_id).data_path
    if task_id == "medisumcode":
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif task_id == "medisumqa":
        records = [{**r, "without_discharge_summary": r["discharge_summary"]}
                   for r in json.loads(path.read_text(encoding="utf-8"))]
    else:
        return path
    copy = tmp_path / path.name
    copy.write_text(json.dumps(records), encoding="utf-8")
    return copy


def clue_prompts(task_id: str, form: str, template: str, tmp_path: Path) -> list[str]:
    module = importlib.import_module(f"clue_ff75877.{task_id}")
    args = SimpleNamespace(data_path=str(_clue_data(task_id, tmp_path)), num_few_shot_examples=FEW_SHOT[task_id],
                           **FORMS[form])
    return list(module.model_inputs(args, hf_tokenizer(*TEMPLATES[template])))


async def our_prompts(task_id: str, form: str, template: str) -> list[str]:
    ctx = BuildContext(protocol=CLUE_2024, fold_system=form == "folded", base_model=form == "base",
                       chat_template=ChatTemplate(*TEMPLATES[template]))
    return (await get_task(task_id).build(SAMPLES, ctx))["prompt"].to_list()


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("task_id", sorted(FEW_SHOT))
async def test_raw_prompts_equal_clue_2024(task_id: str, form: str, template: str, tmp_path: Path) -> None:
    expected = clue_prompts(task_id, form, template, tmp_path)
    ours = await our_prompts(task_id, form, template)
    assert len(expected) >= 3  # every sample file scores several records
    assert ours == expected
    if form == "system" and template == "llama3":
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{task_id}.txt").write_text(ours[0], encoding="utf-8")


async def test_the_three_forms_differ_as_2024_built_them() -> None:
    """Guards the oracle comparison against a vacuous pass: the forms and templates give different text."""
    system, folded, base = [await our_prompts("meqsum", form, "llama3") for form in ("system", "folded", "base")]
    assert system[0].count("<|start_header_id|>system") == 1 and "<|start_header_id|>system" not in folded[0]
    assert "<|start_header_id|>" not in base[0] and base[0].endswith("--------------END PATIENT INQUIRY--------------"
                                                                     "\n\nQuestion: ")
    assert system[0].endswith("<|start_header_id|>assistant<|end_header_id|>\n\nQuestion: ")
    gemma = await our_prompts("meqsum", "system", "gemma")
    assert gemma[0].startswith("<bos><start_of_turn>user\n") and gemma[0].endswith("<start_of_turn>model\nQuestion: ")


def test_packaged_2024_prompts_are_the_specification_byte_for_byte() -> None:
    from conftest import SHARED

    packaged = REPO / "clue_client" / "tasks" / "prompts_2024.json"
    assert packaged.read_bytes() == (SHARED / "clue-protocol" / "prompts_2024.json").read_bytes()
