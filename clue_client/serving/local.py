"""Launch the embedded llama.cpp server (xllamacpp) in a child process and stop it without orphans.

``local_server(settings)`` is the one entry point: it assembles the bundled Gemma 3 270M GGUF if needed,
starts ``clue_client.serving.local_worker`` on a free loopback port, waits for ``/health``, reads the served
model id and slot count back from the server, and stops the child on exit, exception or Ctrl-C. The child
also ends itself if this process dies (see the worker's docstring), so ``kill -9`` leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx

from ..errors import ServerUnreachable, UserError
from .bundled_model import BUNDLED_MODEL_ALIAS, bundled_model_path

__all__ = ["GEMMA_JINJA", "LocalServerSettings", "LocalServer", "local_server", "default_slots", "default_threads", "wait_healthy"]

#: llama.cpp's built-in template for Gemma; the bundled GGUF is a base model and carries none.
GEMMA_TEMPLATE = "gemma"
#: The same template written in Jinja (our text; it renders what the built-in ``gemma`` renders: the system
#: turn folded into the first user turn, contents trimmed, ``model`` for the assistant). Served for protocols
#: whose client renders the prompt: ``/props`` then tells the template (a built-in's name is no template).
GEMMA_JINJA = (
    "{%- set ns = namespace(system='') -%}\n"
    '{%- for message in messages -%}\n'
    "{%- if message['role'] == 'system' -%}\n"
    "{%- set ns.system = ns.system + (message['content'] | trim) -%}\n"
    '{%- else -%}\n'
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}\n"
    "{{ '<start_of_turn>' + role + '\\n' }}\n"
    "{%- if ns.system and role != 'model' -%}\n"
    "{{ ns.system + '\\n\\n' }}\n"
    "{%- set ns.system = '' -%}\n"
    '{%- endif -%}\n'
    "{{ (message['content'] | trim) + '<end_of_turn>\\n' }}\n"
    '{%- endif -%}\n'
    '{%- endfor -%}\n'
    '{%- if add_generation_prompt -%}\n'
    "{{ '<start_of_turn>model\\n' }}\n"
    '{%- endif -%}\n'
)
_STOP_GRACE_S = 5.0
_POLL_S = 0.1


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """One compute thread per usable core; llama.cpp slows down when oversubscribed."""
    return _usable_cpus()


def default_slots() -> int:
    """Parallel sequences: continuous batching keeps a CPU busier with a few, with diminishing returns.

    Measured with bench/local_throughput.py on 2 cores; see the module note in that script.
    """
    return max(2, min(8, 2 * _usable_cpus()))


@dataclass(frozen=True, slots=True)
class LocalServerSettings:
    """How to run the embedded server; ``None`` means "choose for this machine".

    ``context_length`` is per request (per slot). 8192 is CLUE's 8k setting: LongHealth fills
    documents up to the model's context, and 8k keeps one such prompt on two CPU cores in the tens of
    seconds while matching the published CLUE numbers' budget.
    """

    model_path: Path | None = None
    context_length: int = 8192
    slots: int | None = None
    threads: int | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    startup_timeout_s: float = 120.0
    #: llama.cpp built-in template name, or a Jinja template's text (then llama.cpp parses reasoning out of
    #: ``<think>`` blocks into ``reasoning_content``); None = ``gemma`` for the bundled model, the GGUF's own
    #: otherwise.
    chat_template: str | None = None

    def __post_init__(self) -> None:
        if self.context_length < 256:
            raise UserError(f"local server context_length must be at least 256, got {self.context_length}")
        for name in ("slots", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"local server {name} must be at least 1, got {value}")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise UserError(f"local server port must be in 0..65535, got {self.port}")
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise UserError(f"the embedded server listens on loopback only, got host {self.host!r}")
        if self.startup_timeout_s <= 0:
            raise UserError("local server startup_timeout_s must be positive")


@dataclass(frozen=True, slots=True)
class LocalServer:
    """A running embedded server, as the server itself reports it."""

    base_url: str  # "http://127.0.0.1:PORT/v1"
    model: str
    slots: int
    context_length: int
    pid: int
    log_path: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def is_running(self) -> bool:
        return self._process is None or self._process.poll() is None

    @property
    def root_url(self) -> str:
        """The server root (``/health``, ``/props``, ``/tokenize`` live here, not under ``/v1``)."""
        return self.base_url.removesuffix("/v1")


def _require_xllamacpp() -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        raise UserError("the embedded llama.cpp server is not installed; run: pip install 'clue-client[local]'")


def _worker_command(settings: LocalServerSettings, model: Path, alias: str, template: str) -> list[str]:
    command = [
        sys.executable, "-m", "clue_client.serving.local_worker",
        "--model", str(model),
        "--alias", alias,
        "--context-length", str(settings.context_length),
        "--slots", str(settings.slots or default_slots()),
        "--threads", str(settings.threads or default_threads()),
        "--host", settings.host,
        "--port", str(settings.port or 0),
        "--chat-template", template,
        "--parent-pid", str(os.getpid()),
    ]
    # PR_SET_PDEATHSIG fires when the spawning *thread* ends, so only use it from the main thread.
    if threading.current_thread() is threading.main_thread():
        command.append("--pdeathsig")
    return command


def _log_tail(log_path: Path, lines: int = 3) -> str:
    try:
        text = log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:] if line.strip())


def _read_announcement(proc: subprocess.Popen[bytes], deadline: float, log_path: Path) -> dict[str, Any]:
    """The worker's one JSON line, or a clear ServerUnreachable."""
    assert proc.stdout is not None
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerUnreachable(f"embedded llama.cpp server did not start in time (log: {log_path})")
            if not selector.select(timeout=min(remaining, 1.0)):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                tail = _log_tail(log_path)
                raise ServerUnreachable(f"embedded llama.cpp server exited during start-up: {tail or 'no log output'}")
            buffer += chunk
    message = json.loads(buffer.split(b"\n", 1)[0])
    if "error" in message:
        raise ServerUnreachable(f"embedded llama.cpp server failed to start: {message['error']} (log: {log_path})")
    return message


def get_within(url: str, deadline_s: float) -> httpx.Response:
    """GET ``url`` with one deadline for the whole call (``introspect.fetch``: httpx's own timeouts are per
    read, so a server trickling its answer would hold the caller forever). Raises ServerUnreachable."""
    from .introspect import fetch

    async def get() -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await fetch(client, url, deadline_s=deadline_s, probe=True)

    return asyncio.run(get())


def wait_healthy(root: str, timeout_s: float, alive: Callable[[], bool] = lambda: True, poll_s: float = _POLL_S) -> None:
    """Poll ``root/health`` until 200 (llama.cpp, TGI and vLLM answer 503 or refuse while loading)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not alive():
            raise ServerUnreachable(f"the server behind {root} exited before it was healthy")
        try:
            if get_within(f"{root}/health", 5.0).status_code == 200:
                return
        except ServerUnreachable:
            pass
        if time.monotonic() >= deadline:
            raise ServerUnreachable(f"{root} was not healthy after {timeout_s:.0f} s")
        time.sleep(poll_s)


def _describe(root: str) -> tuple[str, int, int]:
    """(model id, total slots, per-slot context) as the server reports them."""
    try:
        models = json.loads(get_within(f"{root}/v1/models", 10.0).raise_for_status().content)
        props = json.loads(get_within(f"{root}/props", 10.0).raise_for_status().content)
        return (str(models["data"][0]["id"]), int(props["total_slots"]),
                int(props["default_generation_settings"]["n_ctx"]))
    except (httpx.HTTPError, LookupError, TypeError, ValueError, RecursionError) as exc:
        raise ServerUnreachable(f"embedded llama.cpp server at {root} did not describe itself ({type(exc).__name__}: {exc})") from None


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = _STOP_GRACE_S) -> None:
    """Close stdin (the worker exits on EOF), then escalate to SIGTERM and SIGKILL; always reaps."""
    if proc.stdin is not None and not proc.stdin.closed:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    for escalate in (None, proc.terminate, proc.kill):
        if escalate is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                escalate()
        try:
            proc.wait(timeout=grace_s)
            break
        except subprocess.TimeoutExpired:
            continue
    if proc.stdout is not None:
        proc.stdout.close()


@contextlib.contextmanager
def local_server(settings: LocalServerSettings | None = None) -> Iterator[LocalServer]:
    """Run the embedded server for the duration of the ``with`` block."""
    settings = settings or LocalServerSettings()
    _require_xllamacpp()
    if settings.model_path is None:
        model, alias = bundled_model_path(), BUNDLED_MODEL_ALIAS
        template = settings.chat_template or GEMMA_TEMPLATE
    else:
        model = Path(settings.model_path).expanduser()
        if not model.is_file():
            raise UserError(f"GGUF model file not found: {model}")
        alias, template = model.stem, settings.chat_template or ""
    log_fd, log_name = tempfile.mkstemp(prefix="clue-llama-server-", suffix=".log")
    log_path = Path(log_name)
    deadline = time.monotonic() + settings.startup_timeout_s
    proc: subprocess.Popen[bytes] | None = None
    started = False
    try:
        proc = subprocess.Popen(
            _worker_command(settings, model, alias, template),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_fd,
            start_new_session=True,  # a terminal Ctrl-C reaches only us; we stop the child in order
        )
        os.close(log_fd)
        log_fd = -1
        announced = _read_announcement(proc, deadline, log_path)
        root = str(announced["base_url"])
        wait_healthy(root, max(deadline - time.monotonic(), 1.0), alive=lambda: proc.poll() is None)
        served_model, slots, context = _describe(root)
        started = True
        yield LocalServer(f"{root}/v1", served_model, slots, context, proc.pid, log_path, proc)
    finally:
        if log_fd >= 0:
            os.close(log_fd)
        if proc is not None:
            stop_process(proc)
        if started:  # a failed start keeps its log for the error message's reader
            log_path.unlink(missing_ok=True)
