"""Child process that hosts llama.cpp's server (xllamacpp) for ``clue_client.serving.local.local_server``.

It lives in its own process so the caller's event loop never shares a GIL with model loading, and so
the parent can always end it. It tells the parent where it listens with one JSON line on the original
stdout (``{"base_url": ...}`` or ``{"error": ...}``); llama.cpp's own logging goes to stderr.

It never outlives its parent: it exits when its stdin reaches EOF (the parent closed it or died, even
by ``kill -9``), when its parent pid changes (re-parented), and, on Linux when asked, through
``PR_SET_PDEATHSIG``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import threading
import time
from typing import Any, Callable

PR_SET_PDEATHSIG = 1
_WATCH_INTERVAL_S = 0.25


def _set_parent_death_signal() -> None:
    """Ask Linux to SIGKILL us when the parent thread that spawned us exits (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _watch_parent(parent_pid: int) -> None:
    """Exit as soon as stdin closes or the parent is gone; both run as daemon threads."""

    def on_stdin_eof() -> None:
        try:
            sys.stdin.buffer.read()
        finally:
            os._exit(0)

    def on_reparent() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_WATCH_INTERVAL_S)
        os._exit(0)

    for target in (on_stdin_eof, on_reparent):
        threading.Thread(target=target, daemon=True).start()


def is_jinja(template: str) -> bool:
    """A Jinja template's text rather than the name of one of llama.cpp's built-in templates."""
    return "{{" in template or "{%" in template


def _params(args: argparse.Namespace) -> Any:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    # The server splits n_ctx evenly across slots; every slot gets the full per-request context.
    params.n_ctx = args.context_length * args.slots
    params.n_parallel = args.slots
    params.cont_batching = True
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.hostnames = [args.host]
    params.port = args.port
    params.endpoint_props = True
    params.endpoint_slots = True
    if args.chat_template:
        # A built-in template name only works on llama.cpp's legacy (non-jinja) template path; with
        # jinja on, the name itself would be used as the template text. A Jinja template's text takes the
        # jinja path, where llama.cpp's reasoning parser (--reasoning-format deepseek, its default) runs.
        params.use_jinja = is_jinja(args.chat_template)
        params.chat_template = args.chat_template
    params.verbosity = 0
    return params


def _announce(fd: int, payload: dict[str, Any]) -> None:
    os.write(fd, (json.dumps(payload) + "\n").encode())


def serve(args: argparse.Namespace, announce: Callable[[dict[str, Any]], None]) -> None:
    """Start the server, announce its URL, then wait until a watcher ends the process."""
    try:
        import xllamacpp

        server = xllamacpp.Server(_params(args))
        address = str(server.listening_address)
    except Exception as exc:  # noqa: BLE001 - any start failure is reported to the parent as data
        announce({"error": f"{type(exc).__name__}: {exc}"})
        os._exit(1)  # not sys.exit: the stdin watcher thread holds the stdin lock
    base = address if address.startswith("http") else f"http://{address}"
    announce({"base_url": base.rstrip("/"), "pid": os.getpid()})
    threading.Event().wait()  # serve (``server`` stays referenced) until a watcher or a signal ends us


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clue_client.serving.local_worker")
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--context-length", type=int, required=True)
    parser.add_argument("--slots", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chat-template", default="")
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--pdeathsig", action="store_true")
    args = parser.parse_args(argv)
    if args.pdeathsig:
        _set_parent_death_signal()
    if os.getppid() != args.parent_pid:  # the parent died before we could watch it
        os._exit(0)
    _watch_parent(args.parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    ready_fd = os.dup(1)
    os.dup2(2, 1)  # anything the library prints goes to the log, never into the handshake
    serve(args, lambda payload: _announce(ready_fd, payload))


if __name__ == "__main__":
    main()
