"""A real LiteLLM proxy on 127.0.0.1 in front of loopback test servers, for tests and benches.

LiteLLM lives in a venv of its own (``.venv-litellm``, made by ``tests/run.sh``) so that its pins never meet
the project's. The proxy runs as a child process in its own session; its access log (one line per request,
``"POST /v1/chat/completions ..."``) tells how many requests reached the gateway, including those it refused.
The config is JSON, which is YAML too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LITELLM = REPO / ".venv-litellm" / "bin" / "litellm"
MASTER_KEY = "sk-gateway-test-master"
STARTUP_TIMEOUT_S = 300.0  # importing litellm takes ~10 s on a quiet machine, over a minute on a busy one


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def deployment(model_name: str, backend_url: str, rpm: int | None = None) -> dict:
    """One backend of a model group: LiteLLM's ``openai/`` provider pointed at an OpenAI-compatible URL."""
    params: dict = {"model": "openai/fake-model", "api_base": backend_url, "api_key": "unused-by-test-servers"}
    if rpm is not None:
        params["rpm"] = rpm
    return {"model_name": model_name, "litellm_params": params}


@dataclass
class Gateway:
    """``with Gateway(deployments, folder) as gw:`` starts the proxy and waits until it answers."""

    deployments: list[dict]
    folder: Path
    enforce_rate_limits: bool = True  # rpm set on a deployment is enforced (429) rather than only routed by
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = self.folder / "litellm.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def config(self) -> dict:
        router: dict = {"optional_pre_call_checks": ["enforce_model_rate_limits"]} if self.enforce_rate_limits else {}
        return {"model_list": self.deployments, "router_settings": router,
                "general_settings": {"master_key": MASTER_KEY}}

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "litellm.yaml"
        config.write_text(json.dumps(self.config(), indent=1))
        # the model price map shipped in the package instead of a download; log lines as they happen
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [str(LITELLM), "--config", str(config), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.folder, env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"litellm exited with {self._proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health/liveliness", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"litellm did not answer within {STARTUP_TIMEOUT_S:g} s: {self.log_tail()}")

    def access_log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def chat_requests(self, status: int | None = None) -> int:
        """Chat requests the gateway has received so far (answered or refused), or those it answered ``status``."""
        line = '"POST /v1/chat/completions HTTP/1.1" ' + (f"{status} " if status is not None else "")
        return self.access_log().count(line)

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.is_file() else ""

    def stop(self) -> None:
        """Terminate the proxy's session (it may have workers), then kill what is left."""
        if self._proc is None or self._proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(self._proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self._proc.wait(wait_s)
                break
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> "Gateway":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
