"""Start and stop TGI, vLLM (NVIDIA GPU) and llama.cpp (CPU) servers with the compose files in docker/.

``start(spec)`` checks for Docker Compose, a running engine and (for GPU kinds) a GPU, each failing as one
clear line; runs ``compose -p clue-<kind> -f FILE up -d`` with the settings as environment variables;
waits for ``/health``; remembers how to tear it down (never the HF token) and returns the endpoint URL.
``stop()`` runs ``down`` for every server it remembers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_state_dir

from ..errors import ServerUnreachable, UserError
from ..files import write_text_atomically
from .local import wait_healthy

__all__ = ["KINDS", "ComposeKind", "DockerServeSpec", "compose_file", "compose_env", "compose_command",
           "find_compose", "start", "stop"]


@dataclass(frozen=True, slots=True)
class ComposeKind:
    name: str  # the `clue serve` subcommand
    file: str  # file name in docker/
    default_port: int
    needs_gpu: bool

    @property
    def project(self) -> str:
        return f"clue-{self.name.removesuffix('-docker')}"


KINDS: dict[str, ComposeKind] = {
    k.name: k
    for k in (
        ComposeKind("tgi", "tgi.yml", 8080, needs_gpu=True),
        ComposeKind("vllm", "vllm.yml", 8000, needs_gpu=True),
        ComposeKind("llamacpp-docker", "llamacpp-cpu.yml", 8081, needs_gpu=False),
    )
}


@dataclass(frozen=True, slots=True)
class DockerServeSpec:
    """What to serve. ``model`` is a Hugging Face id (tgi, vllm) or a GGUF file (llamacpp-docker)."""

    kind: str
    model: str
    revision: str = "main"
    port: int | None = None
    context_length: int = 8192
    slots: int = 4
    chat_template: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UserError(f"unknown server kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if not self.model.strip():
            raise UserError(f"clue serve {self.kind} needs --model")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise UserError(f"--port must be in 1..65535, got {self.port}")
        if self.context_length < 256 or self.slots < 1:
            raise UserError("--context-length must be at least 256 and --slots at least 1")


def _docker_dir() -> Path:
    """docker/ beside the package in a checkout, or shipped inside it in a wheel."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "docker", package.parent / "docker"):
        if candidate.is_dir():
            return candidate
    raise UserError("the compose files (docker/) are not installed; run clue serve from a clue-client checkout")


def compose_file(kind: str) -> Path:
    return _docker_dir() / KINDS[kind].file


def compose_env(spec: DockerServeSpec) -> dict[str, str]:
    """Variables the compose file reads. No secrets: HF_TOKEN passes through from the caller's environment."""
    kind = KINDS[spec.kind]
    env = {"PORT": str(spec.port or kind.default_port), "CONTEXT_LENGTH": str(spec.context_length)}
    if spec.kind == "llamacpp-docker":
        gguf = Path(spec.model).expanduser().resolve()
        if gguf.suffix.lower() != ".gguf" or not gguf.is_file():
            raise UserError(f"clue serve llamacpp-docker --model needs an existing .gguf file, got {spec.model}")
        env.update(
            GGUF_DIR=str(gguf.parent),
            GGUF_FILE=gguf.name,
            MODEL_ALIAS=gguf.stem,
            SLOTS=str(spec.slots),
            TOTAL_CONTEXT=str(spec.context_length * spec.slots),  # llama.cpp splits it across slots
            CHAT_TEMPLATE=spec.chat_template,
        )
    else:
        env.update(MODEL_ID=spec.model, MODEL_REVISION=spec.revision, MAX_INPUT_TOKENS=str(spec.context_length - 1))
    return env


def find_compose() -> list[str]:
    """``docker compose`` (v2 plugin) if present, else the standalone ``docker-compose``."""
    docker = shutil.which("docker")
    if docker and _quiet([docker, "compose", "version"]):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    raise UserError("Docker Compose not found: install Docker Engine with the compose plugin (or docker-compose)")


def compose_command(compose: list[str], kind: str, *action: str) -> list[str]:
    return [*compose, "-p", KINDS[kind].project, "-f", str(compose_file(kind)), *action]


def _quiet(command: list[str], timeout: float = 30.0) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _check_engine() -> None:
    docker = shutil.which("docker")
    if docker is None or not _quiet([docker, "info"]):
        raise UserError("no running Docker engine (`docker info` failed): start Docker, or use `clue serve local` on CPU")


def _check_gpu(kind: str) -> None:
    smi = shutil.which("nvidia-smi")
    if smi is None or not _quiet([smi, "-L"]):
        raise UserError(f"no NVIDIA GPU found (nvidia-smi failed): {kind} needs one; on CPU use `clue serve llamacpp-docker` "
                        "or `clue serve local`")


def _state_file(kind: str) -> Path:
    return Path(user_state_dir("clue-client")) / "serve" / f"{kind}.json"


def _run_compose(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        raise UserError(f"{' '.join(command[-2:])} failed: {lines[-1] if lines else f'exit {done.returncode}'}")


def start(spec: DockerServeSpec, timeout_s: float = 1800.0) -> str:
    """Bring the server up and return its OpenAI base URL once ``/health`` answers 200."""
    compose = find_compose()
    env = compose_env(spec)
    _check_engine()
    if KINDS[spec.kind].needs_gpu:
        _check_gpu(spec.kind)
    _run_compose(compose_command(compose, spec.kind, "up", "-d"), env)
    state = _state_file(spec.kind)
    state.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(state, json.dumps({"kind": spec.kind, "env": env}))
    root = f"http://127.0.0.1:{env['PORT']}"
    try:
        wait_healthy(root, timeout_s, poll_s=2.0)
    except ServerUnreachable as exc:
        raise ServerUnreachable(f"{exc}; see its log: docker compose -p {KINDS[spec.kind].project} logs") from None
    return f"{root}/v1"


def stop(kinds: list[str] | None = None) -> list[str]:
    """Tear down the remembered servers (all by default); returns the kinds stopped."""
    stopped = []
    for kind in kinds or list(KINDS):
        state = _state_file(kind)
        if not state.is_file():
            continue
        env = json.loads(state.read_text())["env"]
        _run_compose(compose_command(find_compose(), kind, "down"), env)
        state.unlink()
        stopped.append(kind)
    return stopped
