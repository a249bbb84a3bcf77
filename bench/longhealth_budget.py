"""LongHealth prompt lengths on a 32k-context server: max and median user-prompt tokens per LongHealth task.

The real ``benchmark_v5.json`` is not in the repository, so the bench writes a fictional LongHealth-shaped
file into a temporary folder: 6 patients, 8 documents each of about 5,000 characters (LongHealth's patients
hold 5,090-6,754 words each), the sentences taken from the bundled sample records. Prompts are built by the
same code ``clue run`` uses (``runner.build_samples``), against the embedded llama.cpp server (Gemma 3
270M, its real tokenizer) started with the given context; the lengths are counted by that server's
``/tokenize``.

    python bench/longhealth_budget.py [--context 32768] [--server local|fake] [--budget N|max]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402

from clue_client.config import Endpoint  # noqa: E402
from clue_client.runner import RunOptions, build_samples  # noqa: E402
from clue_client.tasks import parse_tasks  # noqa: E402

PATIENTS, DOCS, DOC_CHARS = 6, 8, 5000


def _sentences() -> list[str]:
    """Every sentence of the bundled LongHealth and MeDiSumQA samples (fictional records)."""
    samples = ROOT / "data" / "samples"
    text = [t for p in json.loads((samples / "LongHealth" / "benchmark_v5.json").read_text()).values()
            for t in p["texts"].values()]
    text += [r["discharge_summary"] for r in json.loads((samples / "MeDiSumQA" / "MeDiSumQA.json").read_text())]
    return [s for chunk in text for s in re.split(r"(?<=[.!?])\s+", chunk) if len(s) > 20]


def write_long_file(folder: Path, seed: int = 0) -> None:
    """A LongHealth-shaped file with long fictional documents (questions copied from the samples)."""
    rng, sentences = random.Random(seed), _sentences()
    samples = json.loads((ROOT / "data" / "samples" / "LongHealth" / "benchmark_v5.json").read_text())
    template = next(iter(samples.values()))
    data = {}
    for p in range(PATIENTS):
        texts = {}
        for d in range(DOCS):
            body: list[str] = []
            while sum(map(len, body)) < DOC_CHARS:
                body.append(rng.choice(sentences))
            texts[f"text_{d}"] = " ".join(body)
        questions = [{**q, "answer_location": {"text_0": {"start": [0], "end": [10]}}} for q in template["questions"]]
        data[f"patient_{p:02d}"] = {"texts": texts, "questions": questions}
    (folder / "LongHealth").mkdir(parents=True)
    (folder / "LongHealth" / "benchmark_v5.json").write_text(json.dumps(data), encoding="utf-8")


@contextlib.contextmanager
def served(kind: str, context: int) -> Iterator[tuple[str, str]]:
    """(base URL, model) of a server with ``context`` tokens."""
    if kind == "fake":
        from fake_server import FakeServer

        with FakeServer(context_length=context, hidden_routes=("/info", "/v1/models")) as server:
            yield server.base_url, server.model
        return
    from clue_client.serving.local import LocalServerSettings, local_server

    with local_server(LocalServerSettings(context_length=context, slots=1)) as server:
        yield server.base_url, server.model


async def prompt_lengths(base_url: str, model: str, data_dir: Path, extra: dict) -> dict[int, list[int]]:
    endpoint = Endpoint(name="bench", base_urls=(base_url,), model=model, kind="llamacpp")
    options = RunOptions(endpoint=endpoint, tasks=parse_tasks("longhealth"), data_dir=data_dir,
                         out=data_dir / "run", **extra)
    async with httpx.AsyncClient(timeout=120) as client:
        frames, notes = await build_samples(client, endpoint, model, options)
        frame = frames["longhealth"]
        print(f"budget: {notes['longhealth_budget']}")
        root = base_url.removesuffix("/v1")
        lengths: dict[int, list[int]] = {1: [], 2: [], 3: []}
        for lh_task, messages in zip(frame["lh_task"], frame["messages"]):
            user = messages[-1]["content"]
            tokens = (await client.post(f"{root}/tokenize", json={"content": user, "add_special": False})).json()
            lengths[lh_task].append(len(tokens["tokens"]))
    return lengths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=32768)
    parser.add_argument("--server", choices=("local", "fake"), default="local")
    parser.add_argument("--budget", help="as clue run --longhealth-budget: N prompt tokens or 'max'")
    args = parser.parse_args()
    extra = {"longhealth_budget": args.budget} if args.budget else {}
    with tempfile.TemporaryDirectory() as tmp, served(args.server, args.context) as (url, model):
        write_long_file(Path(tmp))
        lengths = asyncio.run(prompt_lengths(url, model, Path(tmp), extra))
    print(f"server {args.server}, context {args.context}, budget {args.budget or 'default'}: user-prompt tokens")
    for lh_task, values in lengths.items():
        print(f"  task {lh_task}: n={len(values)} max={max(values)} median={statistics.median(values):.0f}")
    everything = [v for values in lengths.values() for v in values]
    print(f"  all:    n={len(everything)} max={max(everything)} median={statistics.median(everything):.0f}")


if __name__ == "__main__":
    main()
