"""Compose files validated offline, and `clue serve tgi|vllm|llamacpp-docker|stop` command construction.

``docker-compose config`` (Debian's ``docker-compose`` package) parses and interpolates a file without an
engine. The CLI tests put a recording stand-in for the ``docker`` program first on PATH (the engine is an
external program, not our code) and a real loopback server where the container would listen.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from clue_client.serving.containers import KINDS, DockerServeSpec, compose_command, compose_env, compose_file
from fake_server import FakeServer

DOCKER_COMPOSE = shutil.which("docker-compose")
REQUIRED = {"tgi": {"MODEL_ID": "org/model"}, "vllm": {"MODEL_ID": "org/model"},
            "llamacpp-docker": {"GGUF_DIR": "/tmp", "GGUF_FILE": "model.gguf"}}


def compose_config(kind: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert DOCKER_COMPOSE, "docker-compose missing: apt-get install -y docker-compose"
    clean = {k: v for k, v in os.environ.items() if k not in {"MODEL_ID", "GGUF_DIR", "GGUF_FILE", "HF_TOKEN", "PORT"}}
    return subprocess.run([DOCKER_COMPOSE, "-f", str(compose_file(kind)), "config"], env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("kind", list(KINDS))
def test_compose_file_is_valid(kind: str) -> None:
    done = compose_config(kind, REQUIRED[kind])
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert f"127.0.0.1:{KINDS[kind].default_port}:" in text  # loopback by default
    assert "healthcheck:" in text and "/health" in text
    if KINDS[kind].needs_gpu:
        assert "driver: nvidia" in text and "- gpu" in text
        assert "shm_size: 2g" in text and "hf-cache:/data" in text and "name: clue-hf-cache" in text
        assert "org/model" in text and "main" in text  # model id and revision
    else:
        assert "/tmp:/models:ro" in text and "/models/model.gguf" in text


@pytest.mark.parametrize("kind", list(KINDS))
def test_compose_file_names_its_missing_setting(kind: str) -> None:
    done = compose_config(kind, {})
    assert done.returncode != 0
    assert "set MODEL_ID" in done.stderr or "set GGUF" in done.stderr


@pytest.mark.parametrize("kind", ["tgi", "vllm"])
def test_hf_token_comes_from_the_environment_only(kind: str) -> None:
    assert "HF_TOKEN: hf_secret_value" in compose_config(kind, {**REQUIRED[kind], "HF_TOKEN": "hf_secret_value"}).stdout
    assert "HF_TOKEN: null" in compose_config(kind, REQUIRED[kind]).stdout  # unset stays unset, never ""
    assert "HF_TOKEN" not in compose_env(DockerServeSpec(kind, "org/model"))


def test_compose_env_for_gpu_servers() -> None:
    env = compose_env(DockerServeSpec("vllm", "org/model", revision="abc123", port=9000, context_length=4096))
    assert env == {"PORT": "9000", "CONTEXT_LENGTH": "4096", "MODEL_ID": "org/model", "MODEL_REVISION": "abc123",
                   "MAX_INPUT_TOKENS": "4095"}
    assert compose_env(DockerServeSpec("tgi", "org/model"))["PORT"] == "8080"


def test_compose_env_for_a_mounted_gguf(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny-model.gguf"
    gguf.write_bytes(b"GGUF")
    env = compose_env(DockerServeSpec("llamacpp-docker", str(gguf), slots=3, context_length=2048, chat_template="gemma"))
    assert env == {"PORT": "8081", "CONTEXT_LENGTH": "2048", "GGUF_DIR": str(tmp_path), "GGUF_FILE": "tiny-model.gguf",
                   "MODEL_ALIAS": "tiny-model", "SLOTS": "3", "TOTAL_CONTEXT": "6144", "CHAT_TEMPLATE": "gemma"}
    done = compose_config("llamacpp-docker", env)
    assert done.returncode == 0 and f"{tmp_path}:/models:ro" in done.stdout and "LLAMA_ARG_CHAT_TEMPLATE: gemma" in done.stdout


def test_compose_command_names_project_and_file() -> None:
    assert compose_command(["docker", "compose"], "tgi", "up", "-d") == [
        "docker", "compose", "-p", "clue-tgi", "-f", str(compose_file("tgi")), "up", "-d"]
    assert compose_command(["docker-compose"], "llamacpp-docker", "down")[1:3] == ["-p", "clue-llamacpp"]


FAKE_DOCKER = """#!/bin/sh
# Stand-in for the docker CLI: records each call with the variables compose would read.
echo "$* | MODEL_ID=$MODEL_ID PORT=$PORT HF_TOKEN=${HF_TOKEN:+set}" >> "$FAKE_DOCKER_LOG"
case "$1" in
  info) exit "${FAKE_DOCKER_INFO_RC:-0}" ;;
  compose) exit 0 ;;
esac
exit 1
"""


def write_program(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    write_program(folder, "docker", FAKE_DOCKER)
    return folder


def clue(args: list[str], path: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": str(path), "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state"),
                   "FAKE_DOCKER_LOG": str(tmp_path / "docker.log"), **env}
    return subprocess.run([sys.executable, "-m", "clue_client.cli", "serve", *args], env=environment,
                          capture_output=True, text=True, timeout=120)


def test_serve_vllm_starts_waits_prints_and_stops(fake_bin: Path, tmp_path: Path) -> None:
    write_program(fake_bin, "nvidia-smi", "#!/bin/sh\necho 'GPU 0: Fake'\n")
    with FakeServer() as container:  # answers /health where the container would
        started = clue(["vllm", "--model", "org/model", "--port", str(container.port), "--timeout", "20"],
                       fake_bin, tmp_path, HF_TOKEN="hf_secret_value")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == f"http://127.0.0.1:{container.port}/v1"
    calls = (tmp_path / "docker.log").read_text().splitlines()
    up = f"compose -p clue-vllm -f {compose_file('vllm')} up -d | MODEL_ID=org/model PORT={container.port} HF_TOKEN=set"
    assert up in calls
    state = list((tmp_path / "state").rglob("*.json"))
    assert len(state) == 1 and "hf_secret_value" not in state[0].read_text()  # the token is never written

    stopped = clue(["stop"], fake_bin, tmp_path)
    assert stopped.returncode == 0 and "stopped: vllm" in stopped.stderr
    assert f"compose -p clue-vllm -f {compose_file('vllm')} down | MODEL_ID=org/model PORT={container.port} HF_TOKEN=" \
        in (tmp_path / "docker.log").read_text().splitlines()
    assert list((tmp_path / "state").rglob("*.json")) == []


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clue: error: ")
    return lines[0]


def test_no_docker_engine_is_one_line(fake_bin: Path, tmp_path: Path) -> None:
    line = one_line_error(clue(["tgi", "--model", "org/model"], fake_bin, tmp_path, FAKE_DOCKER_INFO_RC="1"))
    assert "no running Docker engine" in line
    assert "up -d" not in (tmp_path / "docker.log").read_text()


def test_no_gpu_is_one_line(fake_bin: Path, tmp_path: Path) -> None:
    line = one_line_error(clue(["vllm", "--model", "org/model"], fake_bin, tmp_path))
    assert "no NVIDIA GPU found" in line and "llamacpp-docker" in line
    assert "up -d" not in (tmp_path / "docker.log").read_text()


def test_no_docker_at_all_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    assert "Docker Compose not found" in one_line_error(clue(["tgi", "--model", "org/model"], empty, tmp_path))


def test_llamacpp_docker_needs_an_existing_gguf(fake_bin: Path, tmp_path: Path) -> None:
    line = one_line_error(clue(["llamacpp-docker", "--model", str(tmp_path / "missing.gguf")], fake_bin, tmp_path))
    assert "needs an existing .gguf file" in line


def test_stop_with_nothing_running(fake_bin: Path, tmp_path: Path) -> None:
    done = clue(["stop"], fake_bin, tmp_path)
    assert done.returncode == 0 and "no server started by clue serve is running" in done.stderr
    assert not (tmp_path / "docker.log").exists()


def test_state_is_json_with_kind(fake_bin: Path, tmp_path: Path) -> None:
    with FakeServer() as container:
        gguf = tmp_path / "m.gguf"
        gguf.write_bytes(b"GGUF")
        done = clue(["llamacpp-docker", "--model", str(gguf), "--port", str(container.port), "--timeout", "20"],
                    fake_bin, tmp_path)
    assert done.returncode == 0, done.stderr
    (state,) = (tmp_path / "state").rglob("*.json")
    assert json.loads(state.read_text())["kind"] == "llamacpp-docker"
    assert json.loads(state.read_text())["env"]["GGUF_FILE"] == "m.gguf"


def test_llamacpp_docker_defaults_to_the_bundled_model(fake_bin: Path, tmp_path: Path) -> None:
    with FakeServer() as container:
        done = clue(["llamacpp-docker", "--port", str(container.port), "--timeout", "20"], fake_bin, tmp_path)
    assert done.returncode == 0, done.stderr
    (state,) = (tmp_path / "state").rglob("*.json")
    env = json.loads(state.read_text())["env"]
    assert (env["GGUF_FILE"], env["CHAT_TEMPLATE"], env["SLOTS"]) == ("gemma-3-270m-q4_k_m.gguf", "gemma", "4")
    assert (Path(env["GGUF_DIR"]) / env["GGUF_FILE"]).is_file()  # assembled into this HOME's cache
    assert Path(env["GGUF_DIR"]).is_relative_to(tmp_path)
