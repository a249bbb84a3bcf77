"""``clue_client.datasets.fetch`` against a real loopback HTTP server: good, 404, bad checksum, refused
credentials, PhysioNet releases as shipped (SHA256SUMS.txt first), a connection cut mid-file, files already
present checked against their pins; never a partial file left."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from clue_client.errors import DataError, UserError
from clue_client.datasets.fetch import SOURCES, Source, fetch, get_source, git_blob_id
from clue_client.datasets.formats import load_medisumqa
from physionet_mirror import NO_AGREEMENT, PASSWORD, USER, Mirror

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


@pytest.fixture
def mirror():
    with Mirror() as m:
        yield m


def _path(source_name: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(SOURCES[source_name].url).path


def _leftovers(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*") if p.is_file()]


def test_pinned_checksum_good(mirror: Mirror, tmp_path: Path) -> None:
    body = (SAMPLES / "MeQSum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx").read_bytes()
    mirror.files[_path("meqsum")] = body
    pinned = Source("meqsum", "meqsum", SOURCES["meqsum"].url, hashlib.sha256(body).hexdigest())
    result = fetch(pinned, tmp_path, mirror=mirror.url)
    assert result.path == tmp_path / "MeQSum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
    assert result.path.read_bytes() == body and (result.verified_by, result.how) == ("pinned checksum", "sha256")
    assert _leftovers(tmp_path) == [result.path]
    again = fetch(pinned, tmp_path, mirror=mirror.url)
    assert again.already_present and again.sha256 == result.sha256 and again.verified_by == "pinned checksum"


def test_bad_checksum_leaves_nothing(mirror: Mirror, tmp_path: Path) -> None:
    mirror.files[_path("meqsum")] = b"not the MeQSum workbook"
    with pytest.raises(DataError, match="fetch meqsum: checksum mismatch .* expected abedd939"):
        fetch("meqsum", tmp_path, mirror=mirror.url)
    assert _leftovers(tmp_path) == []


def test_404_is_one_clear_line(mirror: Mirror, tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"fetch longhealth: http://127\.0\.0\.1:\d+/kbressem/.* answered 404"
    ):
        fetch("longhealth", tmp_path, mirror=mirror.url)
    assert _leftovers(tmp_path) == []


def test_cut_connection_leaves_nothing(mirror: Mirror, tmp_path: Path) -> None:
    mirror.files[_path("longhealth")] = b"{" + b" " * 200_000 + b"}"
    mirror.cut.add(_path("longhealth"))
    with pytest.raises(DataError, match="fetch longhealth: download from .* failed"):
        fetch("longhealth", tmp_path, mirror=mirror.url)
    assert _leftovers(tmp_path) == []


def test_longhealth_not_matching_the_pinned_blob_is_refused_unless_accepted(mirror: Mirror, tmp_path: Path) -> None:
    body = (SAMPLES / "LongHealth" / "benchmark_v5.json").read_bytes()  # fictional: not the pinned file
    mirror.files[_path("longhealth")] = body
    with pytest.raises(DataError, match=r"fetch longhealth: .* is not the pinned file \(git blob [0-9a-f]{40}, "
                                        r"expected 76bf80d37f321408a0e3f421a2e2d7ef59e97c1e\); --accept-unverified"):
        fetch("longhealth", tmp_path, mirror=mirror.url)
    assert _leftovers(tmp_path) == [] and not (tmp_path / "LongHealth" / "benchmark_v5.json").exists()
    result = fetch("longhealth", tmp_path, mirror=mirror.url, accept_unverified=True)
    assert result.verified_by is None and result.sha256 == hashlib.sha256(body).hexdigest()
    assert result.mismatch is not None and "pinned 76bf80d3" in result.mismatch
    assert (tmp_path / "LongHealth" / "benchmark_v5.json").read_bytes() == body
    assert not (tmp_path / "LongHealth" / "benchmark_v5.json.sha256").exists()


def test_a_download_matching_the_git_blob_id_is_verified_and_its_sha256_recorded(mirror: Mirror, tmp_path: Path) -> None:
    body = (SAMPLES / "LongHealth" / "benchmark_v5.json").read_bytes()
    blob = subprocess.run(["git", "hash-object", "--stdin"], input=body, capture_output=True, check=True).stdout
    source = dataclasses.replace(SOURCES["longhealth"], git_blob=blob.decode().strip())
    mirror.files[_path("longhealth")] = body
    result = fetch(source, tmp_path, mirror=mirror.url)
    digest = hashlib.sha256(body).hexdigest()
    assert (result.verified_by, result.how) == ("pinned checksum", "git blob id") and result.sha256 == digest
    recorded = (tmp_path / "LongHealth" / "benchmark_v5.json.sha256").read_text()
    assert recorded == f"{digest}  benchmark_v5.json\n"
    (tmp_path / "LongHealth" / "benchmark_v5.json.sha256").unlink()
    present = fetch(source, tmp_path, mirror=mirror.url)  # checked in place, recorded again
    assert present.already_present and present.how == "git blob id"
    assert (tmp_path / "LongHealth" / "benchmark_v5.json.sha256").read_text() == recorded


def test_git_blob_id_is_gits(tmp_path: Path) -> None:
    path = tmp_path / "f"
    for body in (b"", b"hello\n", bytes(range(256)) * 5000):
        path.write_bytes(body)
        git = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True)
        assert git_blob_id(path) == git.stdout.strip()




def test_a_present_file_is_checked_against_its_pin(mirror: Mirror, tmp_path: Path) -> None:
    body = (SAMPLES / "MeQSum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx").read_bytes()
    dest = tmp_path / "MeQSum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
    dest.parent.mkdir()
    dest.write_bytes(body)  # fictional: not the pinned upstream file
    with pytest.raises(DataError, match=r"is present but is not the pinned file \(sha256 [0-9a-f]{64}, expected "
                                        r"abedd939.*\); --force downloads it again"):
        fetch("meqsum", tmp_path, mirror=mirror.url)
    assert mirror.requests == [] and dest.read_bytes() == body  # nothing sent, nothing touched
    pinned = Source("meqsum", "meqsum", SOURCES["meqsum"].url, hashlib.sha256(body).hexdigest())
    ok = fetch(pinned, tmp_path, mirror=mirror.url)
    assert ok.already_present and ok.verified_by == "pinned checksum" and ok.how == "sha256"
    lh = tmp_path / "LongHealth" / "benchmark_v5.json"
    lh.parent.mkdir()
    lh.write_bytes((SAMPLES / "LongHealth" / "benchmark_v5.json").read_bytes())
    with pytest.raises(DataError, match="is present but is not the pinned file .*git blob"):
        fetch("longhealth", tmp_path, mirror=mirror.url)
    kept = fetch("longhealth", tmp_path, mirror=mirror.url, accept_unverified=True)
    assert kept.already_present and kept.verified_by is None and "pinned 76bf80d3" in (kept.mismatch or "")


# ---- PhysioNet releases as shipped ------------------------------------------------------------------------
MEDNLI = (SAMPLES / "MedNLI" / "mli_test_v1.jsonl").read_bytes()


def _fetch(name: str, tmp_path: Path, mirror: Mirror, user: str = USER, password: str = PASSWORD, **kw):
    return fetch(name, tmp_path, physionet_user=user, password=password, mirror=mirror.url, **kw)


def test_physionet_good_with_credentials_and_recorded(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish("mednli/1.0.0", {"mli_test_v1.jsonl": MEDNLI, "mli_train_v1.jsonl": b"not fetched"})
    result = _fetch("mednli", tmp_path, mirror)
    assert result.verified_by == "release checksum" and result.how == "SHA256SUMS.txt of mednli/1.0.0"
    assert (tmp_path / "MedNLI" / "mli_test_v1.jsonl").read_bytes() == MEDNLI
    assert mirror.requests == ["/files/mednli/1.0.0/SHA256SUMS.txt", "/files/mednli/1.0.0/mli_test_v1.jsonl"]
    assert all(a and a.startswith("Basic ") for a in mirror.seen_auth)
    record = json.loads((tmp_path / "MedNLI" / "fetch.json").read_text())
    assert record["sha256"] == hashlib.sha256(MEDNLI).hexdigest() and record["release"] == "mednli/1.0.0"
    assert record["verified_by"] == "release checksum" and PASSWORD not in json.dumps(record)


def test_physionet_file_present_is_checked_against_the_release(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish("mednli/1.0.0", {"mli_test_v1.jsonl": MEDNLI})
    dest = tmp_path / "MedNLI" / "mli_test_v1.jsonl"
    dest.parent.mkdir()
    dest.write_bytes(MEDNLI)  # placed by hand: checked, then recorded
    again = _fetch("mednli", tmp_path, mirror)
    assert again.already_present and again.verified_by == "release checksum"
    assert mirror.requests == ["/files/mednli/1.0.0/SHA256SUMS.txt"]  # the file itself is not downloaded
    assert (tmp_path / "MedNLI" / "fetch.json").is_file()
    dest.write_bytes(MEDNLI + b"\n")
    with pytest.raises(DataError, match=r"fetch mednli: .*mli_test_v1\.jsonl is present but is not mli_test_v1\.jsonl "
                                        r"of mednli/1\.0\.0 .*--force downloads it again"):
        _fetch("mednli", tmp_path, mirror)
    assert _fetch("mednli", tmp_path, mirror, force=True).already_present is False
    assert dest.read_bytes() == MEDNLI


@pytest.mark.parametrize("shipped", ["MeDiSumQA.jsonl", "data/medisumqa_v1.json"])
def test_medisumqa_takes_its_file_name_from_the_release(mirror: Mirror, tmp_path: Path, shipped: str) -> None:
    records = [{"note_id": f"fict-{i}-DS-1", "discharge_summary": f"Fictional summary {i}.", "Question": "Why?",
                "Answer": "Because."} for i in range(3)]
    if shipped.endswith(".jsonl"):
        body = "".join(json.dumps(r) + "\n" for r in records).encode()
    else:
        body = json.dumps(records).encode()
    mirror.publish("medisumqa/1.0.0", {shipped: body, "README.md": b"# fictional"})
    result = _fetch("medisumqa", tmp_path, mirror)
    assert result.path == tmp_path / "MeDiSumQA" / "MeDiSumQA.json" and result.path.read_bytes() == body
    frame = load_medisumqa(result.path)
    assert frame.columns == ["discharge_summary", "Question", "Answer"] and frame.height == 3  # note_id unused
    assert json.loads((tmp_path / "MeDiSumQA" / "fetch.json").read_text())["release_file"] == shipped


def test_medisumqa_release_with_no_single_candidate_is_one_line(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish("medisumqa/1.0.0", {"a.json": b"[]", "b.jsonl": b""})
    with pytest.raises(DataError, match=r"SHA256SUMS.txt of medisumqa/1.0.0 should list one .json or .jsonl file "
                                        r"for medisumqa; found a.json, b.jsonl"):
        _fetch("medisumqa", tmp_path, mirror)
    assert _leftovers(tmp_path) == []


def test_physionet_checksum_mismatch(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish("bionlp-workshop-2023-task-1a/2.0.0", {"BioNLP2023-1A-Test.csv": b"File ID,Summary\n"},
                   listed={"BioNLP2023-1A-Test.csv": b"something else"})
    with pytest.raises(DataError, match="fetch problem-summary: checksum mismatch"):
        _fetch("problem-summary", tmp_path, mirror)
    assert _leftovers(tmp_path) == []


def test_problem_summary_release_1x_is_one_line_naming_2_0_0(mirror: Mirror, tmp_path: Path) -> None:
    old = b"File ID,Subjective Sections,Objective Sections,Assessment,Summary\nf1,s,o,a,sum\n"
    mirror.publish("bionlp-workshop-2023-task-1a/2.0.0", {"BioNLP2023-1A-Test.csv": old})
    with pytest.raises(DataError, match=r"fetch problem-summary: BioNLP2023-1A-Test.csv cannot be used: .*"
                                        r"Problem Summary release 1\.x; CLUE uses release 2\.0\.0"):
        _fetch("problem-summary", tmp_path, mirror)
    assert _leftovers(tmp_path) == []


def test_physionet_refuses_wrong_password_and_missing_agreement(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish("medisumqa/1.0.0", {"MeDiSumQA.json": b"[]"})
    with pytest.raises(UserError, match=r"refused PhysioNet user 'fictional-user' \(401\): check the user name"):
        _fetch("medisumqa", tmp_path, mirror, password="wrong")
    with pytest.raises(UserError, match=rf"refused PhysioNet user '{NO_AGREEMENT}' \(403\): the account has no "
                                        "access to this project; sign its data use agreement"):
        _fetch("medisumqa", tmp_path, mirror, user=NO_AGREEMENT)
    assert _leftovers(tmp_path) == []


def test_physionet_truncated_download_leaves_nothing(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish("mednli/1.0.0", {"mli_test_v1.jsonl": MEDNLI})
    mirror.cut.add("/files/mednli/1.0.0/mli_test_v1.jsonl")
    with pytest.raises(DataError, match=r"fetch mednli: download from .*mli_test_v1\.jsonl failed"):
        _fetch("mednli", tmp_path, mirror)
    assert _leftovers(tmp_path) == []


def test_credentials_required_and_never_sent_in_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UserError, match="needs --physionet-user"):
        fetch("mednli", tmp_path)
    monkeypatch.delenv("PHYSIONET_PASSWORD", raising=False)
    with pytest.raises(UserError, match="no PhysioNet password: set PHYSIONET_PASSWORD"):
        fetch("mednli", tmp_path, physionet_user=USER)  # pytest's stdin is not a terminal
    monkeypatch.setenv("PHYSIONET_PASSWORD", PASSWORD)
    with pytest.raises(UserError, match="refusing to send PhysioNet credentials to http://mirror.invalid"):
        fetch("mednli", tmp_path, physionet_user=USER, mirror="http://mirror.invalid")
    assert _leftovers(tmp_path) == []


def test_source_names() -> None:
    assert list(SOURCES) == ["meqsum", "longhealth", "mednli", "problem-summary", "medisumqa"]
    assert get_source("problem_summary").dataset == "problem_summary"
    assert SOURCES["mednli"].release.url("SHA256SUMS.txt") == "https://physionet.org/files/mednli/1.0.0/SHA256SUMS.txt"
    assert all(s.url.startswith("https://") for s in SOURCES.values() if s.url)
    with pytest.raises(UserError, match="unknown dataset 'x' to fetch"):
        get_source("x")
