"""``clue run``: evaluate one endpoint on CLUE tasks (a scripted contract: flags and outputs are stable).

Exit codes: 0 every sample answered; 3 some samples ended in errors or were not sent (listed);
2 user error; 4 a ``--fail-under`` floor was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from rich.console import Console

from ..config import (MAX_CONCURRENCY, MAX_LIMIT, MAX_REASONING_BUDGET, MAX_TEMPERATURE, MAX_TIMEOUT_S, Endpoint,
                      resolve_endpoint)
from ..errors import GateFailed, UserError
from .common import add_scoring_flags, number, print_rejected, print_results, scoring_options, stdout
from .outputs import RunOutputs, add_junit_flag, add_mlflow_flag, open_run_outputs

if TYPE_CHECKING:  # the runner pulls in aiohttp and polars: import it only when a run starts
    from ..runner import RunOptions, RunSummary

log = logging.getLogger(__name__)
console = Console(stderr=True, highlight=False)  # notes and progress; silenced by --quiet
alerts = Console(stderr=True, highlight=False)  # what went wrong: shown even with --quiet

#: Open files a run needs besides its sockets: the store (and its WAL and index), the lock, standard streams,
#: the event loop, libraries' own files, an embedded server's log.
FILES_RESERVED = 64
DEFAULT_ENDPOINT = "local"
DEFAULT_SAMPLE_DIR = Path("data/samples")
LONGHEALTH_BUDGET_HELP = ("LongHealth prompt tokens, system prompt included (default: CLUE's 8k setting, 8140, "
                          "shrunk to a smaller served context); 'max': the served context")
PLUMBING_NOTE = (
    "note: the embedded model is Gemma 3 270M, a tiny base model: this run checks the plumbing end to end; "
    "its scores sit near the floor and say nothing about clinical ability."
)


TEMPERATURE = number(float, low=0, high=MAX_TEMPERATURE)
LIMIT = number(int, low=1, high=MAX_LIMIT)
_TOKENS = number(int, low=1)


def longhealth_budget(text: str) -> int | str:
    """``--longhealth-budget``: a positive number of tokens, or ``max`` (the served context)."""
    if text == "max":
        return text
    try:
        return _TOKENS(text)
    except argparse.ArgumentTypeError:
        shown = text if len(text) <= 24 else text[:20] + "..."
        raise argparse.ArgumentTypeError(f"'{shown}' is not a positive number of tokens or 'max'") from None


longhealth_budget.__name__ = "N|max"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="evaluate an endpoint on CLUE tasks")
    p.add_argument("--endpoint", action="append", metavar="NAME|URL",
                   help="endpoint name from endpoints.toml, or a URL (default: local); repeat it, or give a comma "
                        "list, to run the same tasks against several endpoints at once into OUT/<endpoint>/")
    add_set_flags(p)
    p.add_argument("--model", help="model id (default: the endpoint's, else the server's first /v1/models id)")
    p.add_argument("--no-model-check", action="store_true",
                   help="take --model as given even when the server's /models does not list it")
    p.add_argument("--tasks", default="all", help="comma-separated task ids, or 'all' (default)")
    p.add_argument("--data-dir", type=Path, help="datasets folder in CLUE's layout (default: data/samples for the local endpoint, else data)")
    p.add_argument("--limit", type=LIMIT, help="at most N scored samples per task (LongHealth: N questions; "
                                               "default: the endpoint's limit, none for most)")
    p.add_argument("--out", type=Path, help="run folder (default: runs/<endpoint>); rerunning resumes it")
    p.add_argument("--concurrency", type=number(int, low=1, high=MAX_CONCURRENCY),
                   help="requests in flight per server (overrides max_concurrency; capped by the open-file limit)")
    p.add_argument("--config", type=Path, help="endpoints file (default: ./endpoints.toml, else the shipped one)")
    p.add_argument("--api-key-env", help="environment variable holding the API key (for a URL endpoint)")
    p.add_argument("--fold-system", action="store_true", help="fold the system prompt into the first user turn")
    p.add_argument("--temperature", type=TEMPERATURE, help="sampling temperature, 0-2 (default: endpoint's, else 0 = greedy)")
    add_request_flags(p)
    p.add_argument("--max-cost", type=number(float, low=0), help="stop sending (resumable) before the cost would pass this amount")
    p.add_argument("--timeout", type=number(float, above=0, high=MAX_TIMEOUT_S), metavar="S",
                   help="seconds one request may take (overrides timeout_s; default: scaled to the task's max_tokens)")
    p.add_argument("--longhealth-budget", type=longhealth_budget, metavar="N|max", help=LONGHEALTH_BUDGET_HELP)
    p.add_argument("--new-identity", action="store_true",
                   help="run into a folder holding answers of another model or server (they are not reused)")
    p.add_argument("--retry-errors", action="store_true",
                   help="send stored errors again, refused and given-up alike (default: only what is missing or given up)")
    p.add_argument("--fail-under", help="TASK=SCORE[,...]: exit 4 if a task score (in %%) is below its floor")
    add_junit_flag(p, "--fail-under")
    add_mlflow_flag(p)
    p.add_argument("--dry-run", action="store_true",
                   help="send nothing: print per task the samples, answers already stored, requests to send, "
                        "estimated tokens and cost")
    p.add_argument("--quiet", action="store_true", help="print only the results (no progress, notes or next steps)")
    add_scoring_flags(p)
    p.set_defaults(func=run_command)


def add_set_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of several endpoints at once (``--baseline``) and of shards (``--shard``)."""
    parser.add_argument("--baseline", metavar="NAME",
                        help="with several --endpoint: the one the others are compared with (default: the first)")
    parser.add_argument("--shard", type=shard_type, metavar="I/N",
                        help="send only shard I of N of the requests (chosen by request key); join the shards' "
                             "run folders with `clue merge`")


def shard_type(text: str) -> tuple[int, int]:
    from ..shards import parse_shard

    try:
        return parse_shard(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--shard: ")) from None


def endpoint_names(given: list[str] | None) -> list[str]:
    """``--endpoint a --endpoint b,c`` → [a, b, c]; none given: the embedded ``local`` endpoint."""
    names = [name.strip() for item in given or [DEFAULT_ENDPOINT] for name in item.split(",") if name.strip()]
    if not names:
        raise UserError("--endpoint: no endpoint given")
    return names


#: More repeats than this is a typo (each is a full run's requests).
MAX_REPEATS = 1000


def add_request_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that change what every request asks for (so they are part of its key), shared with batch export."""
    parser.add_argument("--repeats", type=number(int, low=1, high=MAX_REPEATS), default=1, metavar="K",
                        help="send every prompt K times (scores: mean over repeats ± sd; default 1)")
    parser.add_argument("--protocol", choices=("2025", "2024"), default="2025",
                        help="CLUE protocol: 2025 (default: chat requests, the server's template) or 2024 (the "
                             "published table's: prompts rendered on the client and sent raw, see docs/protocol.md)")
    parser.add_argument("--base-model", action="store_true",
                        help="--protocol 2024: a base model's plain-text prompts (no chat template)")
    parser.add_argument("--chat-template", type=Path, metavar="FILE",
                        help="--protocol 2024: the model's chat template (Jinja); default: the server's (llama.cpp), "
                             "else the Hub's at --hf-revision")
    parser.add_argument("--hf-revision", metavar="REV",
                        help="--protocol 2024: read the chat template from the model's tokenizer_config.json on the "
                             "Hugging Face Hub at this revision (OWNER/NAME@REV for another repository id)")
    parser.add_argument("--reasoning-budget", type=number(int, low=0, high=MAX_REASONING_BUDGET), metavar="N",
                        help="add N tokens to every task's max_tokens for a thinking model's thoughts "
                             "(endpoint key reasoning_budget; CLUE's limits are answer budgets)")
    parser.add_argument("--reasoning-effort", choices=("none", "minimal", "low", "medium", "high"),
                        help="send OpenAI's reasoning_effort (endpoint key reasoning_effort)")


def parse_floors(spec: str | None, task_ids: list[str]) -> dict[str, float]:
    """``mednli=40,level1=30`` → {task: floor}; unknown names and bad numbers are user errors."""
    if not spec:
        return {}
    floors = {}
    for part in spec.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in (*task_ids, "level1", "level2"):
            raise UserError(f"--fail-under: '{part}' is not TASK=SCORE for a task of this run (or level1/level2)")
        try:
            floors[name] = number(float)(value.strip())
        except argparse.ArgumentTypeError as exc:
            raise UserError(f"--fail-under: {exc}") from None
    return floors


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"


def default_out(endpoint: Endpoint) -> Path:
    """Where a run goes without --out: runs/<endpoint name> (the Python API's default too)."""
    return Path("runs") / _slug(endpoint.name)


def _endpoint(args: argparse.Namespace) -> Endpoint:
    endpoint = resolve_endpoint(args.endpoint, args.config)
    sampling = dict(endpoint.sampling)
    if args.temperature is not None:
        if endpoint.omit_sampling:
            raise UserError(f"--temperature: endpoint '{endpoint.name}' sets omit_sampling = true in {endpoint.source} "
                            "(its API takes no sampling parameters)")
        sampling["temperature"] = args.temperature
    timeout = getattr(args, "timeout", None)  # `clue batch export` shares this and sends nothing
    return endpoint.with_overrides(api_key_env=args.api_key_env, sampling=sampling, timeout_s=timeout,
                                   reasoning_budget=args.reasoning_budget, reasoning_effort=args.reasoning_effort)


def protocol_options(args: argparse.Namespace) -> dict[str, Any]:
    """RunOptions fields from the protocol flags (``add_request_flags``)."""
    return {"protocol": args.protocol, "base_model": args.base_model, "chat_template": args.chat_template,
            "hf_revision": args.hf_revision, "fold_system": args.fold_system}


@contextlib.contextmanager
def _served(endpoint: Endpoint, concurrency: int | None, protocol: str = "2025") -> Iterator[Endpoint]:
    """Start the embedded server for an ``embedded`` endpoint and stop it afterwards; else pass through.

    A protocol whose client renders the prompts gets the built-in Gemma template as Jinja text, so the
    server's ``/props`` tells the client the template it would apply itself."""
    if not endpoint.embedded:
        yield endpoint
        return
    try:
        from ..serving.local import LocalServerSettings, local_server
    except ImportError as exc:
        raise UserError(f"the embedded endpoint needs the [local] extra: pip install 'clue-client[local]' ({exc})") from None
    from ..protocols import get_protocol
    from ..serving.local import GEMMA_JINJA

    console.print(PLUMBING_NOTE)
    template = {"chat_template": GEMMA_JINJA} if get_protocol(protocol).client_renders else {}
    settings = LocalServerSettings(slots=concurrency or endpoint.max_concurrency, **_ctx(endpoint), **template)
    with local_server(settings) as server:
        console.print(f"embedded llama.cpp server: {server.base_url} (model {server.model})")
        yield endpoint.with_overrides(base_urls=(server.base_url,), model=endpoint.model or server.model)


def within_open_files(concurrency: int, servers: int, setting: str) -> int:
    """``concurrency``, or less where the open-file limit (``ulimit -n``) cannot hold a socket for every request
    in flight: the soft limit is raised toward the hard one first; what still does not fit is capped, with one
    line saying so (more would fail as "Too many open files" on the first wave)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = servers * (concurrency + 1) + FILES_RESERVED
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return concurrency
    allowed = max(1, (soft - FILES_RESERVED) // servers - 1)
    log.warning("%s %d capped at %d: this machine allows %d open files (ulimit -n) and each request in flight "
                "holds one; raise the limit for more", setting, concurrency, allowed, soft)
    return allowed


def _ctx(endpoint: Endpoint) -> dict[str, Any]:
    return {"context_length": endpoint.context_length} if endpoint.context_length else {}


def run_command(args: argparse.Namespace) -> int:
    from ..runner import RunOptions, check_credentialed, check_protocol
    from ..tasks import parse_tasks

    console.quiet = args.quiet
    names = endpoint_names(args.endpoint)
    if len(names) > 1:  # an eval set: its own module, a normal run folder per endpoint
        from .run_set import run_set

        return run_set(args, names)
    if args.baseline is not None:
        raise UserError("--baseline: compares several --endpoint; only one was given")
    args.endpoint = names[0]
    endpoint = _endpoint(args)
    tasks = parse_tasks(args.tasks)
    floors = parse_floors(args.fail_under, [t.id for t in tasks])
    limit = args.limit if args.limit is not None else endpoint.limit
    if args.limit is None and limit is not None:
        console.print(f"limit: the first {limit} sample(s) of each task (endpoint '{endpoint.name}' default; "
                      "--limit N for more)")
    concurrency = within_open_files(args.concurrency or endpoint.max_concurrency, len(endpoint.base_urls) or 1,
                                    "--concurrency" if args.concurrency else f"max_concurrency of '{endpoint.name}'")
    if args.max_cost is not None and endpoint.prices() is None:
        raise UserError(f"--max-cost needs price_per_million_input/output for endpoint '{endpoint.name}' in {endpoint.source}")
    data_dir = args.data_dir or (DEFAULT_SAMPLE_DIR if endpoint.embedded else Path("data"))
    out = args.out or default_out(endpoint)
    check_credentialed(endpoint, tasks)  # before any server starts or byte is sent
    check_protocol(endpoint, RunOptions(endpoint=endpoint, tasks=tasks, data_dir=data_dir, out=out, model=args.model,
                                        **protocol_options(args)))
    outputs = open_run_outputs(args, floors)  # JUnit needs a gate; MLflow's extra and store, checked up front
    from ..run_lock import run_lock

    # a busy folder starts no server; a dry run writes nothing, so it takes no lock either
    lock = contextlib.nullcontext() if args.dry_run else run_lock(out)
    with lock, _served(endpoint, concurrency, args.protocol) as served:
        options = RunOptions(
            endpoint=served, tasks=tasks, data_dir=data_dir, out=out, model=args.model, limit=limit,
            concurrency=concurrency, max_cost=args.max_cost,
            model_check=not args.no_model_check,
            scoring=scoring_options(args), longhealth_budget=args.longhealth_budget, retry_errors=args.retry_errors,
            new_identity=args.new_identity, repeats=args.repeats, shard=args.shard, **protocol_options(args),
        )
        if args.dry_run or args.max_cost is not None:  # --max-cost: the bill before the spending
            _print_plan(options, sent=not args.dry_run)
            if args.dry_run:
                return 0
        summary = _run_with_progress(options, args.quiet)
    return _report(summary, out, floors, args.exclude_rejected, outputs)


def _print_plan(options: RunOptions, sent: bool) -> None:
    from ..plan import plan_run, plan_table

    model, plans = asyncio.run(plan_run(options))
    title = f"plan: {model} @ {options.endpoint.name} -> {options.out}"
    (console if sent else stdout).print(plan_table(plans, title))
    basis = "prompt tok estimated (~4 characters a token); completion tok and cost are ceilings (max_tokens)"
    console.print(basis if sent else f"dry run, nothing sent: {basis}")


def _run_with_progress(options: RunOptions, quiet: bool) -> RunSummary:
    from ..progress import choose_mode, track
    from ..runner import run_evaluation

    return track(lambda on_start: run_evaluation(options, on_start=on_start), choose_mode(console, quiet), console)


def _report(summary: RunSummary, out: Path, floors: dict[str, float], exclude_rejected: bool,
            outputs: RunOutputs | None = None) -> int:
    print_results(summary.results)
    print_rejected(summary.rejected, exclude_rejected, console)
    console.print(f"run folder: {out}")
    if summary.stopped_reason:
        alerts.print(f"stopped early: {summary.stopped_reason}; rerun the same command to continue")
    failed = _missed_floors(summary.results, floors)
    if summary.errors:
        alerts.print(f"{len(summary.errors)} sample(s) ended in errors:")
        for task, sample_id, error in summary.errors[:20]:
            alerts.print(f"  {task} {sample_id}: {error}", markup=False)
        if len(summary.errors) > 20:
            alerts.print(f"  ... and {len(summary.errors) - 20} more (see predictions/*.parquet)")
    if summary.errors or summary.rejected:
        alerts.print("a rerun re-sends only what was given up; --retry-errors sends every stored error again, "
                     "refused and given-up alike (e.g. after fixing the server)")
    if summary.n_missing:
        alerts.print(f"{summary.n_missing} sample(s) not sent yet")
    for command in next_steps(out):
        console.print(f"next: {command}", markup=False)
    if outputs is not None:
        outputs.write(out, console)
    if failed:
        raise GateFailed("--fail-under: " + "; ".join(failed))
    return 3 if summary.errors or summary.n_missing else 0


def next_steps(out: Path) -> list[str]:
    """The report of this run; and, when other finished runs of the same CLUE protocol sit beside it (compare
    refuses runs of two protocols), the comparison with the newest."""
    steps = [f"clue report {shlex.quote(str(out))} --html report.html"]
    protocol = _protocol_of(out)
    others = [p for p in out.parent.iterdir() if p != out and (p / "results.json").is_file()
              and _protocol_of(p) == protocol] if out.parent.is_dir() else []
    if others:
        baseline = max(others, key=lambda p: (p / "results.json").stat().st_mtime)
        steps.append(f"clue compare {shlex.quote(str(baseline))} {shlex.quote(str(out))}")
    return steps


def _protocol_of(run_dir: Path) -> str | None:
    """The protocol a run folder's results were made under (a folder from before protocols: 2025's); None when
    its results.json cannot be read (it is then no candidate for a comparison)."""
    from ..untrusted_json import loads

    try:
        data = loads((run_dir / "results.json").read_bytes())
    except (OSError, ValueError):
        return None
    return str(data.get("protocol") or "2025") if isinstance(data, dict) else None


def _missed_floors(results: dict[str, Any], floors: dict[str, float]) -> list[str]:
    missed = []
    for name, floor in floors.items():
        score = results.get(name) if name.startswith("level") else results["tasks"].get(name, {}).get("score")
        if score is None or score < floor:
            shown = "none" if score is None else f"{score:.2f}"
            missed.append(f"{name} scored {shown} < {floor:g}")
    return missed
