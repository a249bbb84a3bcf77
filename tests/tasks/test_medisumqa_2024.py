"""MeDiSumQA under CLUE 2024: its template reads ``without_discharge_summary``; a file that has the field is
used as it is, a record without it shows its ``discharge_summary`` and is counted (``field_substituted``)."""

from __future__ import annotations

import json
from pathlib import Path

from chat_templates import LLAMA3_STYLE, LLAMA3_TOKENS
from clue_client.protocols import CLUE_2024
from clue_client.protocols.render import ChatTemplate
from clue_client.tasks import BuildContext, get_task
from clue_client.tasks.base import shuffled
from conftest import SAMPLES

CTX = BuildContext(protocol=CLUE_2024, chat_template=ChatTemplate(LLAMA3_STYLE, LLAMA3_TOKENS))


def _write(root: Path, records: list[dict]) -> Path:
    (root / "MeDiSumQA").mkdir(parents=True)
    (root / "MeDiSumQA" / "MeDiSumQA.json").write_text(json.dumps(records))
    return root


async def test_the_field_is_read_where_the_file_has_it(tmp_path: Path) -> None:
    records = json.loads((SAMPLES / "MeDiSumQA" / "MeDiSumQA.json").read_text())
    example = shuffled(len(records), 1)[0]  # MeDiSumQA keeps its seeded shuffle in 2024
    missing = next(i for i in range(len(records)) if i != example)
    with_field = [{**r, "without_discharge_summary": f"LETTER WITHOUT SUMMARY {i}"} for i, r in enumerate(records)]
    with_field[missing].pop("without_discharge_summary")
    frame = await get_task("medisumqa").build(_write(tmp_path, with_field), CTX)
    assert frame.height == len(records) - 1
    for sample_id, prompt, substituted in frame.select("sample_id", "prompt", "field_substituted").iter_rows():
        i = int(sample_id)
        assert f"LETTER WITHOUT SUMMARY {example}\n" in prompt  # the few-shot example's letter
        if i == missing:
            assert records[i]["discharge_summary"] in prompt and substituted
        else:
            assert f"LETTER WITHOUT SUMMARY {i}\n" in prompt and not substituted


async def test_the_release_without_the_field_is_counted_whole() -> None:
    frame = await get_task("medisumqa").build(SAMPLES, CTX)
    assert frame["field_substituted"].to_list() == [True] * frame.height
