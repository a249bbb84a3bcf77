"""From credentials to six task files, one command per dataset, against a loopback server that answers as
PhysioNet (and GitHub's raw files) do; then ``clue data status`` on the folder they made."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clue_client.datasets.status import dataset_status
from mimic_files import write_diagnoses, write_notes
from physionet_mirror import NO_AGREEMENT, PASSWORD, USER, Mirror
from test_data_cli import SAMPLES, clue
from test_fetch import _path

REAL_MEQSUM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "MeQSum" / (
    "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
)
CREDENTIALS = {"PHYSIONET_PASSWORD": PASSWORD}


def _publish_everything(mirror: Mirror, sources: Path) -> None:
    mirror.files[_path("meqsum")] = REAL_MEQSUM.read_bytes()  # the real public file: matches the pin
    mirror.files[_path("longhealth")] = (SAMPLES / "LongHealth" / "benchmark_v5.json").read_bytes()  # fictional
    mirror.publish("mednli/1.0.0", {"mli_test_v1.jsonl": (SAMPLES / "MedNLI" / "mli_test_v1.jsonl").read_bytes(),
                                    "mli_train_v1.jsonl": b"{}\n"})
    mirror.publish("bionlp-workshop-2023-task-1a/2.0.0",
                   {"BioNLP2023-1A-Test.csv": (SAMPLES / "ProblemSummary" / "BioNLP2023-1A-Test.csv").read_bytes()})
    qa = json.loads((SAMPLES / "MeDiSumQA" / "MeDiSumQA.json").read_text())
    lines = "".join(json.dumps({"note_id": f"fict-{i}-DS-1", **r}) + "\n" for i, r in enumerate(qa))
    mirror.publish("medisumqa/1.0.0", {"MeDiSumQA.jsonl": lines.encode()})
    hadm_ids = write_notes(sources / "discharge.csv.gz", 150)
    write_diagnoses(sources / "diagnoses_icd.csv.gz", hadm_ids)
    mirror.publish("mimic-iv-note/2.2", {"note/discharge.csv.gz": (sources / "discharge.csv.gz").read_bytes(),
                                         "note/radiology.csv.gz": b"not to be fetched"})
    mirror.publish("mimiciv/2.2", {"hosp/diagnoses_icd.csv.gz": (sources / "diagnoses_icd.csv.gz").read_bytes(),
                                   "hosp/admissions.csv.gz": b"not to be fetched", "icu/icustays.csv.gz": b"no"})


@pytest.mark.skipif(not REAL_MEQSUM.is_file() and not os.environ.get("CI"),
                    reason=f"the real MeQSum file is not in the shared data folder ({REAL_MEQSUM})")
def test_all_six_tasks_one_command_each_then_status(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (tmp_path / "sources").mkdir()
    with Mirror() as mirror:
        _publish_everything(mirror, tmp_path / "sources")
        where = ("--data-dir", str(data), "--mirror", mirror.url)
        physionet = ("--physionet-user", USER, *where)
        for command in (("meqsum", *where), ("longhealth", *where, "--accept-unverified"),
                        ("mednli", *physionet), ("problem-summary", *physionet), ("medisumqa", *physionet)):
            done = clue("data", "fetch", *command, env=CREDENTIALS)
            assert done.returncode == 0, done.stderr

        refused = clue("data", "fetch", "medisumcode", "--physionet-user", NO_AGREEMENT, *where, env=CREDENTIALS)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1
        assert f"refused PhysioNet user '{NO_AGREEMENT}' (403)" in refused.stderr
        mirror.requests.clear()
        built = clue("data", "fetch", "medisumcode", *physionet, env=CREDENTIALS)
        assert built.returncode == 0, built.stderr
        assert mirror.requests == [  # exactly the two source files, not the releases
            "/files/mimic-iv-note/2.2/SHA256SUMS.txt", "/files/mimic-iv-note/2.2/note/discharge.csv.gz",
            "/files/mimiciv/2.2/SHA256SUMS.txt", "/files/mimiciv/2.2/hosp/diagnoses_icd.csv.gz",
        ]
        assert "wrote " in built.stdout and "150 records from 150 notes" in built.stdout
        assert "holds 150 notes, not MIMIC-IV-Note 2.2's 331,793" in built.stderr
        assert PASSWORD not in built.stdout + built.stderr
        for name in ("mimic/mimic-iv-note/2.2/note/discharge.csv.gz", "mimic/mimiciv/2.2/hosp/diagnoses_icd.csv.gz"):
            assert (data / name).read_bytes() == (tmp_path / "sources" / Path(name).name).read_bytes()

        again = clue("data", "fetch", "medisumcode", *physionet, env=CREDENTIALS)
        assert again.returncode == 0, again.stderr
        assert again.stdout.count("already present and matches the release checksum") == 2
        assert "already built from these files (build.json)" in again.stdout

    status = clue("data", "status", "--data-dir", str(data), "--json")
    rows = {r["id"]: r for r in json.loads(status.stdout)}
    assert {k: (r["state"], r["verified_by"]) for k, r in rows.items()} == {
        "mednli": ("ready", "release checksum"),
        "meqsum": ("ready", "pinned checksum"),
        "problem_summary": ("ready", "release checksum"),
        "longhealth": ("unverified", None),  # fictional: cannot match the pinned git blob id
        "medisumqa": ("ready", "release checksum"),
        "medisumcode": ("ready", "build.json"),
    }
    assert rows["medisumqa"]["how"] == "SHA256SUMS.txt of medisumqa/1.0.0 (MeDiSumQA.jsonl)"
    assert "not MIMIC-IV-Note 2.2" in rows["medisumcode"]["detail"] and rows["medisumcode"]["records"] == 150
    assert rows["longhealth"]["command"] == f"clue data fetch longhealth --data-dir {data} --force"
    assert [r["command"] for r in rows.values() if r["state"] == "ready"] == [None] * 5

    table = clue("data", "status", "--data-dir", str(data))
    assert table.returncode == 0 and "build.json: built " in table.stdout
    assert table.stdout.count("to make ") == 1 and "to make longhealth ready" in table.stdout
    print(table.stdout)  # shown with -s: the status of a folder holding all six tasks

    (data / "MedNLI" / "mli_test_v1.jsonl").write_bytes((data / "MedNLI" / "mli_test_v1.jsonl").read_bytes() + b"\n")
    edited = {r.id: r for r in dataset_status(data)}
    assert (edited["mednli"].state, edited["mednli"].reason) == ("unverified", "differs from the fetched file")
