"""``clue serve``: run a model server to evaluate.

``clue serve local`` runs the embedded llama.cpp server in the foreground until Ctrl-C;
``clue serve tgi|vllm|llamacpp-docker`` start a Docker container and return; ``clue serve stop`` ends them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..serving.local import LocalServerSettings, local_server
from ..serving import containers
from ..errors import ServerUnreachable, UserError
from .common import number

COUNT = number(int, low=1)
PORT = number(int, low=1, high=65535)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="start a model server (embedded llama.cpp, or TGI/vLLM/llama.cpp in Docker)")
    kinds = p.add_subparsers(dest="serve_kind", required=True)

    local = kinds.add_parser("local", help="embedded llama.cpp server in the foreground (Ctrl-C stops it)")
    local.add_argument("--model", type=Path, help="GGUF file (default: the bundled Gemma 3 270M)")
    local.add_argument("--chat-template", help="llama.cpp built-in template name (default: gemma for the bundled model)")
    local.add_argument("--context-length", type=COUNT, default=8192, help="tokens per request (default: 8192)")
    local.add_argument("--slots", type=COUNT, help="parallel sequences (default: chosen for this machine)")
    local.add_argument("--threads", type=COUNT, help="CPU threads (default: one per usable core)")
    local.add_argument("--port", type=PORT, help="loopback port (default: a free one)")
    local.set_defaults(func=_serve_local)

    for name, what in (("tgi", "Hugging Face TGI on an NVIDIA GPU"), ("vllm", "vLLM on an NVIDIA GPU")):
        docker = kinds.add_parser(name, help=f"{what}, in Docker")
        docker.add_argument("--model", required=True, help="Hugging Face model id (HF_TOKEN from the environment)")
        docker.add_argument("--revision", default="main", help="model revision: branch, tag or commit (default: main)")
        _docker_flags(docker)

    cpu = kinds.add_parser("llamacpp-docker", help="llama.cpp's CPU server image with a mounted GGUF, in Docker")
    cpu.add_argument("--model", type=Path, help="GGUF file (default: the bundled Gemma 3 270M)")
    cpu.add_argument("--chat-template", help="llama.cpp built-in template name (default: gemma for the bundled model)")
    cpu.add_argument("--slots", type=COUNT, default=4, help="parallel sequences (default: 4)")
    _docker_flags(cpu)

    stop = kinds.add_parser("stop", help="stop the Docker servers started by clue serve")
    stop.add_argument("kinds", nargs="*", metavar="KIND", help=f"any of {', '.join(containers.KINDS)} (default: all)")
    stop.set_defaults(func=_serve_stop)


def _docker_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=PORT, help="host port on 127.0.0.1 (default: the kind's usual port)")
    p.add_argument("--context-length", type=COUNT, default=8192, help="tokens per request (default: 8192)")
    p.add_argument("--timeout", type=number(float, above=0), default=1800.0, help="seconds to wait for /health (default: 1800)")
    p.set_defaults(func=_serve_docker)


def _serve_local(args: argparse.Namespace) -> int:
    settings = LocalServerSettings(
        model_path=args.model,
        context_length=args.context_length,
        slots=args.slots,
        threads=args.threads,
        port=args.port,
        chat_template=args.chat_template,
    )
    try:
        with local_server(settings) as server:
            print(server.base_url, flush=True)
            print(f"serving {server.model} with {server.slots} slots of {server.context_length} tokens; Ctrl-C stops",
                  file=sys.stderr, flush=True)
            # Sleep in short steps: Ctrl-C may land on a library's thread, and the main thread only sees
            # the KeyboardInterrupt once it runs again. local_server stops the child on the way out.
            while server.is_running():
                time.sleep(0.25)
    except KeyboardInterrupt:
        print("clue serve: stopped", file=sys.stderr)
        return 130
    raise ServerUnreachable("the embedded llama.cpp server stopped unexpectedly")


def _serve_docker(args: argparse.Namespace) -> int:
    model, template = args.model, getattr(args, "chat_template", None) or ""
    if args.serve_kind == "llamacpp-docker" and model is None:
        from ..serving.local import GEMMA_TEMPLATE
        from ..serving.bundled_model import bundled_model_path

        model, template = bundled_model_path(), template or GEMMA_TEMPLATE
    spec = containers.DockerServeSpec(
        kind=args.serve_kind,
        model=str(model),
        revision=getattr(args, "revision", "main"),
        port=args.port,
        context_length=args.context_length,
        slots=getattr(args, "slots", 4),
        chat_template=template,
    )
    print(containers.start(spec, timeout_s=args.timeout), flush=True)
    return 0


def _serve_stop(args: argparse.Namespace) -> int:
    unknown = [k for k in args.kinds if k not in containers.KINDS]
    if unknown:
        raise UserError(f"clue serve stop: unknown kind {unknown[0]!r}; choose from {', '.join(containers.KINDS)}")
    stopped = containers.stop(args.kinds or None)
    print(f"stopped: {', '.join(stopped)}" if stopped else "no server started by clue serve is running", file=sys.stderr)
    return 0
