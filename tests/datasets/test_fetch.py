"""``clue_client.datasets.fetch`` against a real loopback HTTP server: good, 404, bad checksum, refused
credentials, PhysioNet checksum lists, and a connection cut mid-file; never a partial file left."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from clue_client.errors import DataError, UserError
from clue_client.datasets.fetch import SOURCES, Source, fetch, get_source, git_blob_id

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
USER, PASSWORD = "fictional-user", "fictional-password"


class Mirror:
    """Serves ``files`` (path -> bytes); paths under /files/ need basic auth, as PhysioNet's do."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: set[str] = set()  # paths whose body stops halfway
        self.seen_auth: list[str | None] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                auth = self.headers.get("Authorization")
                mirror.seen_auth.append(auth)
                if self.path.startswith("/files/"):
                    good = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                    if auth != good:
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="PhysioNet"')
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                body = mirror.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in mirror.cut else body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> "Mirror":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


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
    assert result.path.read_bytes() == body and result.verified_by == "pinned sha256"
    assert _leftovers(tmp_path) == [result.path]
    again = fetch(pinned, tmp_path, mirror=mirror.url)
    assert again.already_present and again.sha256 == result.sha256


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
    assert result.verified_by == "pinned git blob id" and result.sha256 == digest
    recorded = (tmp_path / "LongHealth" / "benchmark_v5.json.sha256").read_text()
    assert recorded == f"{digest}  benchmark_v5.json\n"


def test_git_blob_id_is_gits(tmp_path: Path) -> None:
    path = tmp_path / "f"
    for body in (b"", b"hello\n", bytes(range(256)) * 5000):
        path.write_bytes(body)
        git = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True)
        assert git_blob_id(path) == git.stdout.strip()


def _physionet(mirror: Mirror, name: str, body: bytes, listed: bytes | None = None) -> None:
    path = _path(name)
    mirror.files[path] = body
    digest = hashlib.sha256(listed if listed is not None else body).hexdigest()
    filename = path.rsplit("/", 1)[1]
    mirror.files[path.rsplit("/", 1)[0] + "/SHA256SUMS.txt"] = (
        f"{'0' * 64} LICENSE.txt\n{digest} {filename}\n".encode()
    )


def test_physionet_good_with_credentials(mirror: Mirror, tmp_path: Path) -> None:
    body = (SAMPLES / "MedNLI" / "mli_test_v1.jsonl").read_bytes()
    _physionet(mirror, "mednli", body)
    result = fetch("mednli", tmp_path, physionet_user=USER, password=PASSWORD, mirror=mirror.url)
    assert result.verified_by == "PhysioNet SHA256SUMS.txt"
    assert (tmp_path / "MedNLI" / "mli_test_v1.jsonl").read_bytes() == body
    assert all(a and a.startswith("Basic ") for a in mirror.seen_auth)


def test_physionet_checksum_mismatch(mirror: Mirror, tmp_path: Path) -> None:
    _physionet(mirror, "problem-summary", b"File ID,Summary\n", listed=b"something else")
    with pytest.raises(DataError, match="fetch problem-summary: checksum mismatch"):
        fetch("problem-summary", tmp_path, physionet_user=USER, password=PASSWORD, mirror=mirror.url)
    assert _leftovers(tmp_path) == []


def test_physionet_refuses_wrong_password(mirror: Mirror, tmp_path: Path) -> None:
    _physionet(mirror, "medisumqa", b"[]")
    with pytest.raises(UserError, match="refused PhysioNet user 'fictional-user' \\(401\\)"):
        fetch("medisumqa", tmp_path, physionet_user=USER, password="wrong", mirror=mirror.url)
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
    assert SOURCES["mednli"].sums_url == "https://physionet.org/files/mednli/1.0.0/SHA256SUMS.txt"
    assert all(s.url.startswith("https://") for s in SOURCES.values())
    with pytest.raises(UserError, match="medisumcode cannot be downloaded"):
        get_source("medisumcode")
    with pytest.raises(UserError, match="unknown dataset 'x' to fetch"):
        get_source("x")
