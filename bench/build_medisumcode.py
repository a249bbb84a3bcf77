"""``clue data build medisumcode`` at MIMIC's real size: wall time and peak memory of the whole command.

Writes synthetic, fictional files of the real shape and size: a MIMIC-IV-Note 2.2 ``discharge.csv.gz`` of
331,793 notes (about 3.3 GB uncompressed: notes of 2,000-18,000 characters with quoted commas, doubled
quotes and embedded newlines) and a MIMIC-IV 2.2 ``diagnoses_icd.csv.gz`` of 4,756,326 rows; then runs the
build as a user would (a subprocess) and reports its wall time and peak RSS.

Goal: peak RSS under 400 MB and wall time under 5 minutes on 2 cores, i.e. both ratios below 1.

    python bench/build_medisumcode.py [--notes 331793] [--diagnoses 4756326] [--dir DIR] [--plain] [--keep]

Needs the build extra (pip install -e '.[build]'). Files are written once per --dir and reused.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = ("patient denies chest pain fever cough with history of diabetes hypertension on metformin lisinopril "
         "presented to the ED for shortness of breath x3 days BP 150/90 HR 102 s/p CABG follow-up in 2 weeks "
         "Name: ___ Unit No: ___ Admission Date: ___ Discharge Date: ___ Service: MEDICINE Allergies: "
         "Attending: ___ Chief Complaint: Major Surgical or Invasive Procedure: None").split()
CODES_9 = ["4019", "0389", "25000", "42731", "V1046", "E8809", "5849", "2724", "41401", "V5861", "53081"]
CODES_10 = ["I10", "E119", "A419", "I4891", "N179", "E785", "Z7901", "K219", "J189", "F329", "Z87891"]
GOAL_RSS_MB, GOAL_WALL_S = 400, 300


def _note_pool(rng: random.Random, size: int = 512) -> list[str]:
    """Quoted CSV text fields of 2,000-18,000 characters (mean ~10,000, as MIMIC-IV-Note's ~3.3 GB / 331,793)."""
    pool = []
    for _ in range(size):
        target, words = rng.randint(2_000, 18_000), []
        length = 0
        while length < target:
            word = rng.choice(WORDS)
            if rng.random() < 0.08:
                word = rng.choice(["\n", "\n\n", ",", '"quoted"', " - ", ":\n"])
            words.append(word)
            length += len(word) + 1
        pool.append('"' + " ".join(words).replace('"', '""') + '"')
    return pool


def write_notes(path: Path, count: int, rng: random.Random, plain: bool) -> list[int]:
    pool = _note_pool(rng)
    hadm_ids = rng.sample(range(20_000_000, 30_000_000), count)
    opener = open if plain else (lambda p, mode: gzip.open(p, mode, compresslevel=1))
    with opener(path, "wt") as out:  # type: ignore[operator]
        out.write("note_id,subject_id,hadm_id,note_type,note_seq,charttime,storetime,text\n")
        batch = []
        for i, hadm in enumerate(hadm_ids):
            subject = 10_000_000 + i // 3
            batch.append(f"{subject}-DS-{i % 40},{subject},{hadm},DS,{i % 40},2180-05-06 00:00:00,"
                         f"2180-05-07 15:16:00,{pool[i % len(pool)]}\n")
            if len(batch) == 2_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))
    return hadm_ids


def write_diagnoses(path: Path, rows: int, hadm_ids: list[int], rng: random.Random) -> None:
    with gzip.open(path, "wt", compresslevel=1) as out:
        out.write("subject_id,hadm_id,seq_num,icd_code,icd_version\n")
        written, batch, k = 0, [], 0
        while written < rows:
            hadm = hadm_ids[k % len(hadm_ids)] if k < len(hadm_ids) else 30_000_000 + k
            k += 1
            version = 9 if hadm % 2 else 10
            for seq in range(1, min(rng.randint(1, 30), rows - written) + 1):
                code = rng.choice(CODES_9 if version == 9 else CODES_10)
                batch.append(f"{hadm // 2},{hadm},{seq},{code},{version}\n")
                written += 1
            if len(batch) >= 20_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=331_793)
    parser.add_argument("--diagnoses", type=int, default=4_756_326)
    parser.add_argument("--dir", type=Path, help="where the synthetic files go (default: a temporary folder)")
    parser.add_argument("--plain", action="store_true", help="write the notes uncompressed (as CLUE reads them)")
    parser.add_argument("--keep", action="store_true", help="keep the files (reused by the next run in --dir)")
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="clue-bench-medisumcode-"))
    folder.mkdir(parents=True, exist_ok=True)
    notes = folder / ("discharge.csv" if args.plain else "discharge.csv.gz")
    diagnoses = folder / "diagnoses_icd.csv.gz"
    rng = random.Random(2)
    if not (notes.is_file() and diagnoses.is_file()):
        started = time.perf_counter()
        hadm_ids = write_notes(notes, args.notes, rng, args.plain)
        write_diagnoses(diagnoses, args.diagnoses, hadm_ids, rng)
        print(f"wrote synthetic files in {time.perf_counter() - started:.0f} s: {notes.name} "
              f"{notes.stat().st_size / 1e9:.2f} GB, {diagnoses.name} {diagnoses.stat().st_size / 1e6:.0f} MB")
    command = [sys.executable, "-m", "clue_client", "data", "build", "medisumcode", "--notes", str(notes),
               "--diagnoses", str(diagnoses), "--data-dir", str(folder / "data"), "--force"]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    out, err = process.stdout.read(), process.stderr.read()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"build failed: {err.strip()}")
    rss_mb = usage.ru_maxrss / 1024  # Linux: KiB
    print(out.strip())
    print(f"notes: {args.notes:,} ({notes.name}), diagnoses: {args.diagnoses:,} rows; cpus: {os.cpu_count()}")
    print(f"wall time: {wall:.1f} s  ({wall / GOAL_WALL_S:.2f}x the {GOAL_WALL_S} s goal)")
    print(f"peak RSS:  {rss_mb:.0f} MB ({rss_mb / GOAL_RSS_MB:.2f}x the {GOAL_RSS_MB} MB goal)")
    print(f"user+sys CPU: {usage.ru_utime + usage.ru_stime:.1f} s")
    if not args.keep and args.dir is None:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
