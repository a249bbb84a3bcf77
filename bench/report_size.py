"""A full-size HTML report: its file size and how long headless Chromium takes to render it.

Two synthetic runs at CLUE's full test-set sizes (MedNLI 1,419, MeQSum 997, Problem Summary 234, LongHealth
400 questions x 15 prompts, MeDiSumQA 416, MeDiSumCode 499), prompts as long as the real ones (LongHealth
~8k tokens of documents), placed among the 25 published models. Render time is Chromium loading the page
until its script has built the sample browser (``--dump-dom``), as a ratio to loading an empty page in the
same run (Chromium's own start-up), and in seconds.

    python bench/report_size.py [--repeats 3]

Target: the file stays below 30 MB and renders in under 10 s on a laptop-class CPU.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import polars as pl  # noqa: E402

from clue_client.reports.html import render_html  # noqa: E402
from clue_client.reports.published_table import published_table  # noqa: E402
from clue_client.reports.run_folder import load_run  # noqa: E402
from runs_factory import improve, synth_task, write_run  # noqa: E402

#: Scored prompts per task on the full test sets, and characters of a typical prompt.
FULL = {"mednli": (1419, 1_500), "meqsum": (997, 2_500), "problem_summary": (234, 6_000),
        "longhealth": (6000, 32_000), "medisumqa": (416, 12_000), "medisumcode": (499, 12_000)}


def _full_task(task: str, seed: int, model: str) -> pl.DataFrame:
    n, chars = FULL[task]
    frame = synth_task(task, n, seed=seed, quality=0.4, error_rate=0.01, model=model)
    filler = ("The patient was admitted with chest pain and shortness of breath. " * (chars // 66 + 1))[:chars]
    return frame.with_columns(
        pl.Series("messages", [[{"role": "system", "content": "You are a clinician."},
                                {"role": "user", "content": f"{i}: {filler}"}] for i in range(n)]),
        pl.Series("reference", [f"reference summary {i}: " + filler[:300] for i in range(n)]),
        (pl.col("prediction") + " " + filler[:400]).alias("prediction"))


def _render_seconds(chromium: str, page: Path, profile: Path) -> float:
    start = time.perf_counter()
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    "--dump-dom", page.as_uri()], capture_output=True, check=True, timeout=600)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("Debian's chromium is needed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = {t: _full_task(t, i, "base") for i, t in enumerate(FULL)}
        runs = [write_run(root / "base", base, model="base-model"),
                write_run(root / "tuned", {t: improve(f, 0.2, seed=1) for t, f in base.items()}, model="tuned-model")]
        loaded = [load_run(r) for r in runs]
        start = time.perf_counter()
        text = render_html(loaded, published_table().models)
        build_s = time.perf_counter() - start
        page, blank = root / "report.html", root / "blank.html"
        page.write_text(text, encoding="utf-8")
        blank.write_text("<!DOCTYPE html><html><body>x</body></html>", encoding="utf-8")
        _render_seconds(chromium, blank, root / "warm")  # first start creates the profile
        report_s, blank_s = [], []
        for i in range(args.repeats):
            blank_s.append(_render_seconds(chromium, blank, root / f"p{i}"))
            report_s.append(_render_seconds(chromium, page, root / f"q{i}"))
        size = page.stat().st_size
        samples = sum(n for n, _ in FULL.values())
        r, b = statistics.median(report_s), statistics.median(blank_s)
        print(f"full-size report: 2 runs x {samples:,} samples + 25 published models")
        print(f"file size: {size / 1e6:.1f} MB ({size:,} bytes); built in {build_s:.1f} s")
        print(f"Chromium render (median of {args.repeats}): {r:.2f} s; empty page {b:.2f} s; "
              f"ratio {r / b:.1f}x; report's own share {r - b:.2f} s")


if __name__ == "__main__":
    main()
