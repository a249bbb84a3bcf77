"""``clue run --endpoint A --endpoint B ...``: the same tasks against several endpoints at once (an eval set).

Every endpoint gets a normal run folder ``OUT/<endpoint>/`` (default ``OUT``: ``runs/<first>+<n>``), its own
concurrency and rate limits, and its own one-line failure; ``clue_client.evalset`` runs them in one event
loop. At the end: one score table with a column per endpoint, each endpoint's paired comparison with the
baseline (``--baseline``, default the first; ``reports/compare.py``, Holm-corrected as ``clue compare``) and
the next commands. Exit code: the worst member's, worst first 2 (an endpoint could not run), 4 (a
``--fail-under`` floor missed), 3 (samples ended in errors or were not sent), 0.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ClueError, UserError
from .common import scoring_options, stdout
from .run import (DEFAULT_SAMPLE_DIR, _endpoint, _missed_floors, _print_plan, _served, _slug, alerts,
                  console, parse_floors, protocol_options)

if TYPE_CHECKING:
    from ..evalset import Member, MemberOutcome
    from ..reports.run_folder import Run

__all__ = ["run_set", "SEVERITY"]

#: Exit codes from best to worst: the set exits with its worst member's.
SEVERITY = (0, 3, 4, 2)


@dataclass(frozen=True)
class _Plan:
    """The set as the command line asked for it."""

    members: list[Member]
    failed: list[MemberOutcome]  # refused before anything started (configuration, credentialed data)
    out: Path
    baseline: str
    floors: dict[str, float]


def run_set(args: argparse.Namespace, names: list[str]) -> int:
    from ..evalset import run_members
    from ..progress import choose_mode, track_set

    plan = _plan(args, names)
    if args.dry_run:
        return _dry_run(plan, args.concurrency)
    console.print(f"{len(names)} endpoints at once into {plan.out}/: {', '.join(names)} (baseline {plan.baseline})",
                  markup=False)

    def serve(endpoint: Any) -> Any:
        return _served(endpoint, args.concurrency, args.protocol)

    def run(on_start: Any) -> Any:
        return run_members(plan.members, serve=serve, on_start=on_start, on_done=_told)

    outcomes = track_set(run, choose_mode(console, args.quiet), console) if plan.members else []
    by_name = {o.name: o for o in [*plan.failed, *outcomes]}
    return _report([by_name[name] for name in names], plan, args.exclude_rejected)


def _plan(args: argparse.Namespace, names: list[str]) -> _Plan:
    """Validate what applies to all (one line, exit 2), then each endpoint (a failure stops that one only)."""
    from ..evalset import Member, MemberOutcome
    from ..runner import RunOptions, check_credentialed, check_protocol
    from ..tasks import parse_tasks

    if len(set(names)) != len(names):
        raise UserError(f"--endpoint: {sorted({n for n in names if names.count(n) > 1})[0]} is given twice")
    folders = {name: _slug(name) for name in names}
    if len(set(folders.values())) != len(names):
        raise UserError("--endpoint: two endpoints would share a run folder name; give them distinct names")
    baseline = args.baseline or names[0]
    if baseline not in names:
        raise UserError(f"--baseline: '{baseline}' is not one of the endpoints ({', '.join(names)})")
    tasks = parse_tasks(args.tasks)
    floors = parse_floors(args.fail_under, [t.id for t in tasks])
    for flag, given in (("--junit-xml", args.junit_xml is not None), ("--mlflow", args.mlflow is not None)):
        if given:
            raise UserError(f"{flag} takes one endpoint's run: with several --endpoint, use it on `clue compare` "
                            "or `clue export` of each run folder afterwards")
    out = args.out or Path("runs") / f"{folders[names[0]]}+{len(names) - 1}"
    endpoints: dict[str, Any] = {}
    failed = []
    for name in names:
        try:
            endpoints[name] = _endpoint(argparse.Namespace(**{**vars(args), "endpoint": name}))
            check_credentialed(endpoints[name], tasks)  # before any server starts or byte is sent
            check_protocol(endpoints[name], RunOptions(endpoint=endpoints[name], tasks=tasks, data_dir=Path("data"),
                                                       out=out, model=args.model, **protocol_options(args)))
        except UserError as exc:
            endpoints.pop(name, None)
            failed.append(MemberOutcome(name, out / folders[name], error=exc))
            _told(failed[-1])
    limit = _common_limit(args.limit, endpoints)
    data_dir = args.data_dir or (DEFAULT_SAMPLE_DIR if any(e.embedded for e in endpoints.values()) else Path("data"))
    members = [
        Member(name, RunOptions(
            endpoint=endpoint, tasks=tasks, data_dir=data_dir, out=out / folders[name], model=args.model, limit=limit,
            concurrency=args.concurrency, model_check=not args.no_model_check, **protocol_options(args),
            max_cost=args.max_cost if endpoint.prices() is not None else None, scoring=scoring_options(args),
            longhealth_budget=args.longhealth_budget, retry_errors=args.retry_errors, repeats=args.repeats,
            shard=args.shard, new_identity=args.new_identity))
        for name, endpoint in endpoints.items()
    ]
    if args.max_cost is not None:
        priced = [m.name for m in members if m.options.max_cost is not None]
        console.print(f"--max-cost {args.max_cost:g} applies to each priced endpoint: {', '.join(priced) or 'none'}",
                      markup=False)
    return _Plan(members, failed, out, baseline, floors)


def _common_limit(given: int | None, endpoints: dict[str, Any]) -> int | None:
    """One sample limit for every endpoint, so that all answer the same samples: ``--limit``, else the smallest
    endpoint default (the embedded endpoint's quick start)."""
    if given is not None:
        return given
    defaults = {name: e.limit for name, e in endpoints.items() if e.limit is not None}
    if not defaults:
        return None
    name = min(defaults, key=lambda n: defaults[n])
    console.print(f"limit: the first {defaults[name]} sample(s) of each task for every endpoint (endpoint '{name}' "
                  "default, so that all answer the same samples; --limit N for more)", markup=False)
    return defaults[name]


def _told(outcome: MemberOutcome) -> None:
    """A member's failure, as one line, the moment it happens."""
    if outcome.error is not None:
        alerts.print(f"clue: error: endpoint {outcome.name}: {outcome.error}", markup=False)


def _dry_run(plan: _Plan, concurrency: int | None) -> int:
    """Each endpoint's plan, one after another (nothing is sent, no run folder is written)."""
    codes = [o.error.exit_code for o in plan.failed if o.error is not None]
    for member in plan.members:
        try:
            with _served(member.options.endpoint, concurrency, member.options.protocol) as served:
                _print_plan(replace(member.options, endpoint=served), sent=False)
        except ClueError as exc:
            alerts.print(f"clue: error: endpoint {member.name}: {exc}", markup=False)
            codes.append(exc.exit_code)
    return _worst(codes)


def _worst(codes: list[int]) -> int:
    return max(codes, key=lambda c: SEVERITY.index(c) if c in SEVERITY else len(SEVERITY), default=0)


def _label(name: str) -> str:
    """A column header: the endpoint's name, or its URL without scheme and ``/v1``."""
    return name.split("://", 1)[-1].removesuffix("/v1")


def _report(outcomes: list[MemberOutcome], plan: _Plan, exclude_rejected: bool) -> int:
    from ..reports.run_folder import load_run

    codes = []
    finished: dict[str, Run] = {}
    for outcome in outcomes:
        codes.append(_member_code(outcome, plan.floors, exclude_rejected))
        if outcome.summary is not None:
            finished[outcome.name] = load_run(outcome.out)
    if finished:
        _print_tables(finished, plan.baseline)
    _print_next(outcomes, finished, plan)
    return _worst(codes)


def _member_code(outcome: MemberOutcome, floors: dict[str, float], exclude_rejected: bool) -> int:
    """One member's exit code, and a line for anything that went wrong with it."""
    if outcome.error is not None:
        return outcome.error.exit_code
    summary = outcome.summary
    assert summary is not None
    name = outcome.name
    if summary.stopped_reason:
        alerts.print(f"{name}: stopped early: {summary.stopped_reason}; rerun the same command to continue", markup=False)
    if summary.errors:
        alerts.print(f"{name}: {len(summary.errors)} sample(s) ended in errors (see {outcome.out}/predictions); "
                     "a rerun re-sends what was given up, --retry-errors every stored error", markup=False)
    if summary.rejected:
        how = "left out of the scores" if exclude_rejected else "scored as empty answers"
        alerts.print(f"{name}: {len(summary.rejected)} sample(s) refused by the server for good: {how}", markup=False)
    if summary.n_missing:
        alerts.print(f"{name}: {summary.n_missing} sample(s) not sent yet", markup=False)
    if missed := _missed_floors(summary.results, floors):
        alerts.print(f"{name}: --fail-under: {'; '.join(missed)}", markup=False)
        return 4
    return 3 if summary.errors or summary.n_missing else 0


def _print_tables(finished: dict[str, Run], baseline: str) -> None:
    from ..reports.compare import compare_runs
    from ..reports.terminal import baseline_table, run_notes, score_table

    runs, labels = list(finished.values()), [_label(n) for n in finished]
    stdout.print(score_table(runs, labels))
    notes = run_notes(runs, labels)
    if notes:
        console.print("* " + "\n* ".join(notes), markup=False, highlight=False)
    if baseline not in finished or len(finished) < 2:
        console.print(f"no comparison: the baseline {baseline} has no results" if baseline not in finished
                      else "no comparison: only one endpoint has results", markup=False)
        return
    comparisons = {_label(name): compare_runs(finished[baseline], run) for name, run in finished.items()
                   if name != baseline}
    stdout.print(baseline_table(comparisons, _label(baseline)))
    for label, comparison in comparisons.items():
        for warning in comparison.warnings:
            console.print(f"warning: {label}: {warning}", style="yellow", markup=False, highlight=False)


def _print_next(outcomes: list[MemberOutcome], finished: dict[str, Run], plan: _Plan) -> None:
    console.print(f"run folders: {plan.out}/ ({', '.join(o.out.name for o in outcomes if o.name in finished) or 'none'})",
                  markup=False)
    if any(o.error is not None for o in outcomes):
        console.print("rerun the same command to resume every endpoint (finished answers are kept)", markup=False)
    if not finished:
        return
    if len(finished) == len(outcomes):
        console.print(f"next: clue report {shlex.quote(str(plan.out))}/* --html report.html", markup=False)
    else:
        folders = " ".join(shlex.quote(str(o.out)) for o in outcomes if o.name in finished)
        console.print(f"next: clue report {folders} --html report.html", markup=False)
    base = next((o for o in outcomes if o.name == plan.baseline and o.name in finished), None)
    for other in (o for o in outcomes if o.name in finished and base is not None and o is not base):
        console.print(f"next: clue compare {shlex.quote(str(base.out))} {shlex.quote(str(other.out))}", markup=False)
