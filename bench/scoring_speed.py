"""Scoring speed: our batched ROUGE vs a per-pair rouge-score loop, same pairs, same run.

Target: ROUGE >= 8x the rouge-score loop with a maximum absolute difference of 0 (bit-identical).
Also: the time to score 10,000 mixed samples of all six tasks without the model-based metrics
(BERTScore, UMLS), bootstrap intervals included.

    python bench/scoring_speed.py [--pairs 20000] [--mixed 10000] [--bootstrap 1000]

Texts: MeQSum consumer health questions from shared/data (real clinical wording, ~60 tokens) when present,
otherwise generated clinical-looking text of similar length.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
from rouge_score import rouge_scorer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clue_client.scoring import ScoringOptions, rouge, score_run  # noqa: E402

MEQSUM = ROOT.parent / "shared" / "data" / "MeQSum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
WORDS = ("patient denies chest pain fever cough with history of diabetes hypertension on metformin lisinopril "
         "presented to the ED for shortness of breath x3 days BP 150/90 HR 102 s/p CABG follow-up in 2 weeks").split()


def source_texts(rng: random.Random) -> tuple[list[str], str]:
    if MEQSUM.is_file():
        from clue_client.datasets.formats import load_meqsum

        texts = [t for t in load_meqsum(MEQSUM)["CHQ"].to_list() if t.strip()]
        return texts, f"MeQSum CHQ ({len(texts)} texts)"
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 100))) for _ in range(2000)]
    return texts, "generated clinical-looking text"


def summary_pairs(n: int, rng: random.Random) -> tuple[list[str], list[str], str]:
    """A reference and a model-like 'summary' that keeps, drops and reorders parts of it."""
    texts, origin = source_texts(rng)
    preds, refs = [], []
    for _ in range(n):
        ref = rng.choice(texts)
        words = ref.split()
        keep = [w for w in words if rng.random() < 0.6]
        cut = rng.randint(0, len(keep))
        preds.append(" ".join(keep[cut:] + keep[:cut] + rng.sample(WORDS, 5)))
        refs.append(ref)
    return preds, refs, origin


def bench_rouge(n: int, rng: random.Random) -> None:
    preds, refs, origin = summary_pairs(n, rng)
    tokens = np.mean([len(t.split()) for t in refs + preds])
    start = time.perf_counter()
    ours = rouge(preds, refs)
    t_ours = time.perf_counter() - start
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    start = time.perf_counter()
    theirs = [scorer.score(r, p) for p, r in zip(preds, refs)]
    t_ref = time.perf_counter() - start
    diff = max(
        float(np.abs(getattr(ours, key) - np.array([s[key].fmeasure for s in theirs])).max())
        for key in ("rouge1", "rouge2", "rougeL")
    )
    print(f"ROUGE on {n} pairs of {origin}, ~{tokens:.0f} words a text")
    print(f"  rouge-score loop : {n / t_ref:10.0f} pairs/s ({t_ref:.2f} s)")
    print(f"  ours (batched)   : {n / t_ours:10.0f} pairs/s ({t_ours:.2f} s)")
    print(f"  ratio            : {t_ref / t_ours:10.1f}x (target >= 8x)")
    print(f"  max |difference| : {diff:g} (must be 0)")


def mixed_frames(n: int, rng: random.Random) -> dict[str, pl.DataFrame]:
    """n samples spread over the six tasks, with outputs of the shape each task gets."""
    texts, _ = source_texts(rng)
    labels = ["entailment", "neutral", "contradiction"]
    per = n // 6
    frames = {}
    for task in ("mednli", "meqsum", "problem_summary", "longhealth", "medisumqa", "medisumcode"):
        rows = []
        for i in range(per):
            extra: dict = {}
            if task == "mednli":
                pred, ref = rng.choice(labels).upper(), rng.choice(labels)
            elif task == "longhealth":
                letter = rng.choice("ABCDEF")
                pred, ref = f"The correct answer is {letter}: something", rng.choice("ABCDEF")
                extra = {"lh_task": 1 + i % 3}
            elif task == "medisumcode":
                codes = ["E11.9", "I10", "N17.9", "J18.9", "E78.5", "K21.9", "Z79.4", "F32.A", "E99.9"]
                pred = "ICD-10 Codes: " + ", ".join(rng.sample(codes, 4))
                ref = ", ".join(c.replace(".", "") for c in rng.sample(codes, 3))
            else:
                pred, ref = rng.choice(texts), rng.choice(texts)
            group = f"q{i // 15}" if task == "longhealth" else f"{task}-{i}"
            rows.append({"task": task, "sample_id": f"{task}-{i}", "group_id": group, "reference": ref,
                         "prediction": pred, "error": None, **extra})
        frames[task] = pl.DataFrame(rows, schema_overrides={"error": pl.Utf8})
    return frames


def bench_mixed(n: int, bootstrap: int, rng: random.Random) -> None:
    frames = mixed_frames(n, rng)
    options = ScoringOptions(bertscore=False, umls=False, bootstrap=bootstrap)
    start = time.perf_counter()
    score_run({"medisumcode": frames["medisumcode"].head(1)}, options)  # one-time: ICD-10-CM tables load
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    _, results = score_run(frames, options)
    elapsed = time.perf_counter() - start
    total = sum(f.height for f in frames.values())
    print(f"score_run on {total} mixed samples (six tasks, no BERTScore/UMLS, bootstrap {bootstrap}):")
    print(f"  {elapsed:.2f} s ({total / elapsed:.0f} samples/s); one-time ICD-10-CM table load {warmup:.2f} s")
    print(f"  level1 {results['level1']:.2f} (partial: {results['levels_partial']['level1']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--mixed", type=int, default=10000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(0)
    bench_rouge(args.pairs, rng)
    bench_mixed(args.mixed, args.bootstrap, rng)


if __name__ == "__main__":
    main()
