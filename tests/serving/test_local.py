"""The embedded llama.cpp server: real model, real HTTP on loopback, real processes.

Each start loads the bundled Gemma 3 270M (a few seconds on 2 cores), so one module-scoped server answers
the protocol questions and the lifecycle tests start their own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import psutil
import pytest

from clue_client.errors import ServerUnreachable, UserError
from clue_client.serving.local import LocalServer, LocalServerSettings, local_server
from clue_client.serving.bundled_model import BUNDLED_MODEL_ALIAS
from processes import gone

pytestmark = pytest.mark.slow
SMALL = LocalServerSettings(slots=2, context_length=2048)


def workers() -> set[int]:
    """Pids of our own embedded-server children still running."""
    me = psutil.Process()
    return {p.pid for p in me.children(recursive=True) if "clue_client.serving.local_worker" in " ".join(p.cmdline())}


@pytest.fixture(scope="module")
def server() -> LocalServer:
    with local_server(SMALL) as running:
        yield running


def test_reports_what_it_serves(server: LocalServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
    assert (server.model, server.slots, server.context_length) == (BUNDLED_MODEL_ALIAS, 2, 2048)
    assert psutil.Process(server.pid).cmdline()[2] == "clue_client.serving.local_worker"


def test_health_models_and_props(server: LocalServer) -> None:
    assert httpx.get(f"{server.root_url}/health").json() == {"status": "ok"}
    models = httpx.get(f"{server.base_url}/models").json()
    assert [m["id"] for m in models["data"]] == [BUNDLED_MODEL_ALIAS]
    props = httpx.get(f"{server.root_url}/props").json()
    assert props["total_slots"] == 2
    assert props["default_generation_settings"]["n_ctx"] == 2048  # per slot, as requested


def test_chat_completion_has_usage(server: LocalServer) -> None:
    body = {
        "model": server.model,
        "messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name a vitamin."}],
        "max_tokens": 6,
        "temperature": 0,
    }
    reply = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120).raise_for_status().json()
    choice = reply["choices"][0]
    assert isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in ("stop", "length")
    assert reply["usage"]["prompt_tokens"] > 5
    assert 1 <= reply["usage"]["completion_tokens"] <= 6


def test_gemma_chat_template_is_applied(server: LocalServer) -> None:
    """The GGUF carries no template: llama.cpp's built-in ``gemma`` must shape the prompt."""
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hello"}]
    prompt = httpx.post(f"{server.root_url}/apply-template", json={"messages": messages}).json()["prompt"]
    assert prompt.startswith("<start_of_turn>user\n")
    assert "Be terse." in prompt and "Hello" in prompt  # Gemma folds the system turn into the user turn
    assert prompt.endswith("<start_of_turn>model\n")


def test_tokenize_roundtrip(server: LocalServer) -> None:
    tokens = httpx.post(f"{server.root_url}/tokenize", json={"content": "chest pain radiating to the arm"}).json()["tokens"]
    assert len(tokens) >= 5 and all(isinstance(t, int) for t in tokens)
    text = httpx.post(f"{server.root_url}/detokenize", json={"tokens": tokens}).json()["content"]
    assert text.strip() == "chest pain radiating to the arm"


def test_stops_on_normal_exit_and_removes_its_log() -> None:
    with local_server(SMALL) as running:
        pid, log = running.pid, running.log_path
        assert log.is_file()
    assert gone(pid, within_s=0.5)  # stopped and reaped before the with-block returns
    assert not log.exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{running.root_url}/health", timeout=2)


def test_stops_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with local_server(SMALL) as running:
            pid = running.pid
            raise RuntimeError("boom")
    assert gone(pid, within_s=0.5)


PARENT = textwrap.dedent(
    """
    import sys, threading, time
    from clue_client.serving.local import LocalServerSettings, local_server

    def run():
        with local_server(LocalServerSettings(slots=1, context_length=1024)) as s:
            print(s.pid, flush=True)
            time.sleep(600)

    if sys.argv[1] == "thread":
        threading.Thread(target=run, daemon=True).start()
        time.sleep(600)
    else:
        run()
    """
)


@pytest.mark.parametrize("started_from", ["main", "thread"])
def test_no_orphan_when_parent_is_killed(started_from: str) -> None:
    """kill -9 of the caller (no cleanup code runs) must still end the server child."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, started_from], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert psutil.Process(child).is_running()
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert gone(child), f"embedded server {child} outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


def test_ctrl_c_stops_clue_serve_local() -> None:
    cli = subprocess.Popen(
        [sys.executable, "-m", "clue_client.cli", "serve", "local", "--slots", "1", "--context-length", "1024"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = cli.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert httpx.get(f"{url.removesuffix('/v1')}/health").status_code == 200
        children = psutil.Process(cli.pid).children()
        assert len(children) == 1
        cli.send_signal(signal.SIGINT)
        assert cli.wait(30) == 130
        assert gone(children[0].pid, within_s=1.0)
        assert "Traceback" not in cli.stderr.read()
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(10)


def test_unloadable_model_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF but not really")
    before = workers()  # the module's shared server may be running
    with pytest.raises(ServerUnreachable, match="failed to start"):
        with local_server(LocalServerSettings(model_path=bad, startup_timeout_s=60)):
            pass
    assert workers() == before


def test_missing_model_file_is_a_one_line_cli_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "clue_client.cli", "serve", "local", "--model", str(tmp_path / "nope.gguf")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"clue: error: GGUF model file not found: {tmp_path / 'nope.gguf'}"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"host": "0.0.0.0"}, "loopback only"),
        ({"slots": 0}, "slots must be at least 1"),
        ({"threads": 0}, "threads must be at least 1"),
        ({"context_length": 100}, "context_length must be at least 256"),
        ({"port": 70000}, "port must be in"),
    ],
)
def test_settings_are_validated(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        LocalServerSettings(**kwargs)


def test_machine_defaults_fill_unset_settings() -> None:
    from clue_client.serving.local import default_slots, default_threads

    cores = len(os.sched_getaffinity(0))
    assert default_threads() == cores
    assert 2 <= default_slots() <= 8


def test_clue_serve_local_reports_a_dead_server() -> None:
    cli = subprocess.Popen(
        [sys.executable, "-m", "clue_client.cli", "serve", "local", "--slots", "1", "--context-length", "1024"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert cli.stdout.readline().startswith("http://127.0.0.1:")
        (child,) = psutil.Process(cli.pid).children()
        child.kill()
        assert cli.wait(30) == 2
        assert cli.stderr.read().strip().splitlines()[-1] == "clue: error: the embedded llama.cpp server stopped unexpectedly"
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(10)
