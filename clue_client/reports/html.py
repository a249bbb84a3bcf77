"""One self-contained HTML report: leaderboard, figures (inline SVG), metric tables, usage, sample browser.

Everything is inside the file (styles, script, figures, data), so it opens offline and can be mailed or
archived with a run. Figures are drawn by matplotlib's SVG backend; the per-sample browser is a small
vanilla script over JSON embedded in the page. Long prompts are shortened (head and tail kept) so that a
LongHealth run does not produce a file of hundreds of megabytes.
"""

from __future__ import annotations

import html
import io
import json
import math
from datetime import datetime, timezone
from typing import Any, Sequence

import polars as pl
from matplotlib.figure import Figure

from .. import __version__
from ..datasets.formats import is_public
from .leaderboard import PROTOCOL_DOC, caveat_line, leaderboard, limit_notes, protocol_label
from .published_table import Published, published_table
from .terminal import LEVEL_NAMES, fmt_cost, fmt_score, placement, report_tasks, run_notes
from .run_folder import (LEVEL_TASKS, TASK_IDS, Run, metric_columns, replica_usage, run_labels, run_usage,
                         score_columns)

__all__ = ["render_html", "level_scatter_svg", "task_bars_svg", "sample_data", "shorten"]

#: Characters kept of one prompt message: the head and the tail (where LongHealth's question sits).
HEAD_CHARS, TAIL_CHARS = 500, 700
PUBLISHED_GREY = "#9a9a9a"
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def shorten(text: str, head: int = HEAD_CHARS, tail: int = TAIL_CHARS) -> str:
    """Keep the start and the end of a long text and say how much was left out."""
    if len(text) <= head + tail + 40:
        return text
    return f"{text[:head]}\n… [{len(text) - head - tail:,} characters not shown] …\n{text[-tail:]}"


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def level_scatter_svg(runs: Sequence[Run], published: Sequence[Published] = ()) -> str:
    """CLUE's main figure: Level 1 (x) against Level 2 (y); published models as labelled grey points, runs
    in colour with their 95% CIs. Each point is an SVG group with an id (``published-N``, ``run-N``)."""
    fig = Figure(figsize=(7.2, 5.4) if published else (6.4, 4.8))
    ax = fig.add_subplot()
    shown = [p for p in published if p.results.level1 is not None and p.results.level2 is not None]
    for i, p in enumerate(shown):
        x, y = p.results.level1, p.results.level2
        ax.plot([x], [y], "o", color=PUBLISHED_GREY, markersize=5, gid=f"published-{i}", zorder=2)
        ax.annotate(p.name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=6, color="#6b6b6b")
    plotted = 0
    for i, (label, run) in enumerate(zip(run_labels(list(runs)), runs)):
        x, y = run.results.level1, run.results.level2
        if x is None or y is None:
            continue
        cx, cy = run.results.levels_ci95.get("level1"), run.results.levels_ci95.get("level2")
        xerr = [[x - cx[0]], [cx[1] - x]] if cx else None
        yerr = [[y - cy[0]], [cy[1] - y]] if cy else None
        ax.errorbar([x], [y], xerr=xerr, yerr=yerr, fmt="o", color=_color(i), capsize=3, markersize=7, label=label,
                    gid=f"run-{i}", zorder=3)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=9, color=_color(i))
        plotted += 1
    ax.set_xlabel("Level 1 score (%)")
    ax.set_ylabel("Level 2 score (%)")
    ax.set_title("Level 1 vs Level 2 (95% CI)" + (f"; grey: {len(shown)} published models" if shown else ""))
    ax.grid(True, alpha=0.3)
    if not plotted:
        ax.text(0.5, 0.5, "no run has both levels", ha="center", va="center", transform=ax.transAxes)
    left_out = [label for label, run in zip(run_labels(list(runs)), runs)
                if run.results.level1 is None or run.results.level2 is None]
    if left_out:
        ax.text(0.0, -0.16, "not plotted (a level is missing): " + ", ".join(left_out), fontsize=8,
                transform=ax.transAxes, va="top")
    return _svg(fig)


def task_bars_svg(runs: Sequence[Run], published: Sequence[Published] = ()) -> str:
    """Each run's task scores (points, 95% CI) over the range of the published models' scores (grey)."""
    tasks = report_tasks(runs)
    fig = Figure(figsize=(max(6.4, 1.3 * len(tasks) + 2), 4.2))
    ax = fig.add_subplot()
    for j, task in enumerate(tasks):
        values = [p.results.tasks[task].score for p in published
                  if task in p.results.tasks and p.results.tasks[task].score is not None]
        if values:
            ax.vlines(j, min(values), max(values), color=PUBLISHED_GREY, linewidth=10, alpha=0.35,
                      gid=f"published-range-{task}")
            ax.plot([j] * len(values), values, "_", color="#6b6b6b", markersize=12, gid=f"published-{task}")
    width = 0.6 / max(1, len(runs))
    for i, (label, run) in enumerate(zip(run_labels(list(runs)), runs)):
        xs, ys, errs = [], [], [[], []]
        for j, task in enumerate(tasks):
            result = run.results.tasks.get(task)
            if result is None or result.score is None:
                continue
            xs.append(j + (i - (len(runs) - 1) / 2) * width)
            ys.append(result.score)
            ci = result.ci95 or (result.score, result.score)
            errs[0].append(result.score - ci[0])
            errs[1].append(ci[1] - result.score)
        ax.errorbar(xs, ys, yerr=errs, fmt="o", capsize=3, color=_color(i), label=label, gid=f"run-tasks-{i}")
    ax.set_xticks(range(len(tasks)), tasks, rotation=15)
    ax.set_xlim(-0.6, len(tasks) - 0.4)
    ax.set_ylabel("task score (%)")
    ax.set_title("Task scores (95% CI)" + ("; grey: published range" if published else ""))
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "",
           row_classes: Sequence[str] | None = None) -> str:
    """An HTML table; cells are already-escaped HTML."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    classes = row_classes or [""] * len(rows)
    body = "".join((f'<tr class="{c}">' if c else "<tr>") + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
                   for row, c in zip(rows, classes))
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _leaderboard(runs: Sequence[Run], published: Sequence[Published]) -> str:
    tasks = list(TASK_IDS) if published else report_tasks(runs)
    rows, classes = [], []
    for row in leaderboard(runs, published):
        classes.append("published" if row.published else "run")
        if row.published:
            source = f"published (CLUE {published_table().protocol_name})"
        else:
            source = f"run ({protocol_label(row.run)})" if row.run else "run"
        cells = ["–" if row.rank is None else str(row.rank), _e(row.label), _e(source)]
        cells += [_e(fmt_score(getattr(row.results, lvl), row.results.levels_ci95.get(lvl), row.results.levels_sd.get(lvl)))
                  for lvl in LEVEL_TASKS]
        for task in tasks:
            result = row.results.tasks.get(task)
            cells.append("—" if result is None else _e(fmt_score(result.score)) + ("*" if result.partial else ""))
        rows.append(cells)
    return _table(["#", "model", "from", *LEVEL_NAMES.values(), *tasks], rows, "leaderboard", classes)


def _placement(runs: Sequence[Run], published: Sequence[Published]) -> str:
    """Each run's rank among the published models, the caveat and the published table's attribution."""
    if not published:
        return ""
    items = "".join(f"<li><b>{_e(label)}</b>: {_e(placement(run, published))}</li>"
                    for label, run in zip(run_labels(list(runs)), runs))
    items += "".join(f"<li>{_e(note)}</li>" for note in limit_notes(runs))
    return f'<ul id="placement">{items}</ul>' + _caveat(runs) + f'<p class="sub">{_e(published_table().credit)}</p>'


def _caveat(runs: Sequence[Run]) -> str:
    """The caveat for the runs not made under the published numbers' protocol; nothing when all were."""
    caveat = caveat_line(runs, published_table().protocol_name)
    if caveat is None:
        return ""
    text = _e(caveat).replace(PROTOCOL_DOC, f'<a href="{PROTOCOL_DOC}">{PROTOCOL_DOC}</a>')
    return f'<p class="caveat">{text}</p>'


def _task_tables(runs: Sequence[Run]) -> str:
    parts = []
    labels = run_labels(list(runs))
    for task in report_tasks(runs):
        metrics = sorted({m for run in runs if task in run.results.tasks for m in run.results.tasks[task].metrics})
        rows = []
        for label, run in zip(labels, runs):
            r = run.results.tasks.get(task)
            if r is None:
                rows.append([_e(label), "not run", "", *[""] * len(metrics), "", ""])
                continue
            cells = ["n/a" if r.metrics.get(m) is None else f"{100 * r.metrics[m]:.2f}" for m in metrics]
            rows.append([_e(label), str(r.n), f'<span class="{"bad" if r.n_errors else ""}">{r.n_errors}</span>',
                         *cells, _e(fmt_score(r.score, r.ci95, r.sd)),
                         f'<span class="bad">{_e(", ".join(r.partial))}</span>' if r.partial else ""])
        parts.append(f'<h3 id="task-{_e(task)}">{_e(task)}</h3>'
                     + _table(["run", "n scored", "errors", *metrics, "score [95% CI]", "missing metrics"], rows))
    return "\n".join(parts)


def _usage(runs: Sequence[Run]) -> str:
    rows = []
    for label, run in zip(run_labels(list(runs)), runs):
        u = run_usage(run)
        lat = [("–" if v is None else f"{v:.3f}") for v in (u.latency_p50, u.latency_p90, u.latency_p99)]
        prices = run.manifest.prices
        price = "–" if prices is None else f"${prices['input_per_million']:g} / ${prices['output_per_million']:g}"
        rows.append([_e(label), str(u.requests), str(u.errors), f"{u.prompt_tokens:,}", f"{u.completion_tokens:,}",
                     f"{u.reasoning_tokens:,}", *lat, _e(price), _e(fmt_cost(u.cost))])
    table = _table(["run", "requests", "errors", "prompt tokens", "completion tokens", "of which reasoning",
                    "latency p50 s", "p90 s", "p99 s", "price in/out per 1M", "cost"], rows)
    return table + _replicas(runs)


def _replicas(runs: Sequence[Run]) -> str:
    """Per base URL figures where a run used several replicas (requests include retries)."""
    rows = [[_e(label), f"<code>{_e(r.url)}</code>", str(r.requests), str(r.errors),
             *("–" if v is None else f"{v:.3f}" for v in (r.latency_p50, r.latency_p90))]
            for label, run in zip(run_labels(list(runs)), runs) for r in replica_usage(run)]
    if not rows:
        return ""
    return '<h3 id="replicas">Replicas</h3>' + _table(
        ["run", "base URL", "requests", "errors", "latency p50 s", "p90 s"], rows, "replicas")


def _runs_info(runs: Sequence[Run]) -> str:
    rows = []
    for label, run in zip(run_labels(list(runs)), runs):
        m = run.manifest
        version = f" ({m.protocol_version})" if m.protocol_version else ""
        rows.append([_e(label), _e(m.endpoint), f"<code>{_e(run.path)}</code>", _e(f"{protocol_label(run)}{version}"),
                     f"<code>{_e(m.sampling if isinstance(m.sampling, str) else json.dumps(dict(m.sampling), sort_keys=True))}</code>",
                     _e(m.started_at or "–"), _e(m.finished_at or ("unfinished" if run.unfinished else "–"))])
    return _table(["run", "endpoint", "folder", "protocol", "sampling", "started", "finished"], rows, "left")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _not_applicable(value: Any) -> bool:
    """Scoring writes NaN (not null) where a metric does not apply, e.g. LongHealth task 2 on a task 1 prompt."""
    return isinstance(value, float) and math.isnan(value)


def _prompt(messages: Any, texts: dict[str, int]) -> list[list[Any]]:
    """System turn and the scored (last) user turn as [role, text index]; few-shot turns are counted.

    Texts are interned per task (``texts``), so a system prompt shared by every sample is stored once.
    """
    if not messages:
        return []
    turns = [(m["role"], m["content"] or "") for m in messages]
    shown = [t for t in turns[:1] if t[0] == "system"] + turns[-1:]
    omitted = len(turns) - len(shown)
    if omitted > 0:
        shown.insert(len(shown) - 1, ("note", f"{omitted} few-shot turn(s) not shown"))
    return [[role, texts.setdefault(shorten(text), len(texts))] for role, text in shown]


def sample_data(runs: Sequence[Run], credentialed_samples: bool = True) -> dict[str, Any]:
    """The browser's data: per task, each sample's prompt/reference once and every run's answer.

    ``credentialed_samples=False`` leaves out every task that is not public (PhysioNet data), for a report
    that leaves the run folder (an MLflow artifact)."""
    tasks: dict[str, Any] = {}
    for task in report_tasks(runs) + sorted({t for r in runs for t in r.predictions} - set(report_tasks(runs))):
        if not credentialed_samples and not is_public(task):
            continue
        frames = [run.predictions.get(task) for run in runs]
        if all(f is None for f in frames):
            continue
        metrics = sorted({m for f in frames if f is not None for m in metric_columns(f, task)})
        samples: dict[str, dict[str, Any]] = {}
        texts: dict[str, int] = {}
        for i, frame in enumerate(frames):
            if frame is None:
                continue
            mine, scored = metric_columns(frame, task), score_columns(frame, task)
            # NaN marks a metric that does not apply to the sample (LongHealth's other two tasks)
            score = pl.mean_horizontal(pl.col(c).cast(pl.Float64).fill_nan(None) for c in scored) if scored \
                else pl.lit(None, pl.Float64)
            rows = frame.with_columns(score.alias("_score")).drop([c for c in ("key",) if c in frame.columns])
            for row in rows.iter_rows(named=True):
                sample = samples.setdefault(row["sample_id"], {
                    "id": row["sample_id"], "group": row.get("group_id"), "prompt": _prompt(row.get("messages"), texts),
                    "reference": row.get("reference"), "truncated": bool(row.get("truncated") or False),
                    "cut_tokens": row.get("cut_tokens"), "lh_task": row.get("lh_task"), "out": [None] * len(runs)})
                sample["out"][i] = {
                    "prediction": row["prediction"], "error": row.get("error"), "finish": row.get("finish_reason"),
                    "score": _clean(row["_score"]) if row["prediction"] is not None else None,
                    "metrics": {m: _clean(row.get(m)) for m in mine if not _not_applicable(row.get(m))},
                }
        tasks[task] = {"metrics": metrics, "texts": list(texts), "samples": list(samples.values())}
    return {"runs": run_labels(list(runs)), "tasks": tasks}


def _withheld(runs: Sequence[Run], credentialed_samples: bool) -> str:
    left_out = [] if credentialed_samples else [t for t in report_tasks(runs) if not is_public(t)]
    return (f"<p class='sub'>Samples of credentialed tasks ({_e(', '.join(left_out))}) are not in this copy of the "
            "report (PhysioNet's data use agreement); the run folder's own report has them.</p>") if left_out else ""


def _json_script(data: Any) -> str:
    """JSON that cannot close its <script> element early."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(runs: Sequence[Run], published: Sequence[Published] = (), credentialed_samples: bool = True) -> str:
    """The whole report as one HTML document; ``published`` models are ranked and plotted beside the runs.
    ``credentialed_samples=False``: the sample browser holds no prompt, answer or reference of a credentialed
    task (scores and counts stay)."""
    notes = run_notes(runs)
    notes_html = ("<ul class='notes'>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>") if notes else \
        "<p>No errors and no missing metrics.</p>"
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return _PAGE.format(
        version=_e(__version__), created=_e(created), n_runs=len(runs), runs_info=_runs_info(runs),
        leaderboard=_leaderboard(runs, published), placement=_placement(runs, published),
        ranking=_RANKED_PUBLISHED if published else _RANKED_RUNS, fig_caveat=_caveat(runs) if published else "",
        scatter=level_scatter_svg(runs, published), bars=task_bars_svg(runs, published),
        bars_note=(f"; grey band: the range of the {len(published)} published models' task scores, one tick each"
                   if published else ""),
        task_tables=_task_tables(runs), usage=_usage(runs), notes=notes_html,
        data=_json_script(sample_data(runs, credentialed_samples)), withheld=_withheld(runs, credentialed_samples),
        style=_STYLE, script=_SCRIPT,
    )


_RANKED_RUNS = ("Ranked by the mean of Level 1 and Level 2 (runs without levels: by their mean task score, after "
                "the others).")
_RANKED_PUBLISHED = ("Runs among CLUE's published models, ranked by Level 1 (every published model has one); "
                     "a run whose Level 1 is partial is listed after them, not ranked, with the reason.")

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:1.5rem auto;max-width:1200px;
padding:0 1rem;color:#1d2330;line-height:1.4}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #dde3ee;padding-bottom:.2rem;margin-top:2rem}
.sub{color:#5a6478;margin-top:0}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #d4dae6;padding:.25rem .5rem;text-align:right;vertical-align:top}
th{background:#eef2f8}td:first-child,th:first-child{text-align:left}
table.leaderboard td:nth-child(2){font-weight:600;white-space:nowrap}
table.leaderboard :is(td,th):is(:nth-child(2),:nth-child(3)){text-align:left}table.left td,table.left th{text-align:left}
.figs{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}.figs figure{margin:0}
.figs svg{max-width:100%;height:auto}figcaption{color:#5a6478;font-size:.85rem}
.bad{color:#b3261e;font-weight:600}.caveat{font-size:.85rem;color:#5a4a00;background:#fff8db;padding:.3rem .5rem}
table.leaderboard tr.published{color:#6b7280}table.leaderboard tr.run{background:#eef6ff}.notes li{margin:.15rem 0}
#controls{display:flex;flex-wrap:wrap;gap:.8rem;align-items:center;background:#f5f7fb;padding:.5rem;
border:1px solid #d4dae6}
#samples td{text-align:left;max-width:28rem;white-space:pre-wrap;word-break:break-word;font-size:.85rem}
#samples tr.wrong td:first-child{border-left:4px solid #b3261e}
pre{white-space:pre-wrap;margin:.2rem 0;font-size:.8rem;background:#f7f7f7;padding:.3rem}
.role{font-weight:600;color:#3b4a6b}
"""

_SCRIPT = r"""
(function(){
const data = JSON.parse(document.getElementById('clue-data').textContent);
const $ = id => document.getElementById(id);
const taskSel = $('f-task'), runSel = $('f-run');
Object.keys(data.tasks).forEach(t => taskSel.add(new Option(t, t)));
data.runs.forEach((r, i) => runSel.add(new Option(r, i)));
let page = 0; const PER_PAGE = 25;
// Deep links: report.html#task=meqsum&run=1&wrong=1&thr=40&error=1&trunc=1&q=text sets the filters.
const hash = new URLSearchParams(location.hash.slice(1));
if (hash.has('task')) taskSel.value = hash.get('task');
if (hash.has('run')) runSel.value = hash.get('run');
if (hash.has('thr')) $('f-thr').value = hash.get('thr');
if (hash.has('q')) $('f-text').value = hash.get('q');
['wrong', 'error', 'trunc'].forEach(k => { if (hash.get(k) === '1') $('f-' + k).checked = true; });
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const fmt = v => v === null || v === undefined ? 'n/a' : (typeof v === 'number' ? (100 * v).toFixed(1) : esc(v));
function isWrong(o, thr){ return !o || o.prediction === null || o.score === null || o.score < thr; }
function rows(){
  const task = data.tasks[taskSel.value]; if (!task) return [];
  const run = +runSel.value, thr = (+$('f-thr').value) / 100, q = $('f-text').value.toLowerCase();
  return task.samples.filter(s => {
    const o = s.out[run];
    if (!o) return false;
    if ($('f-wrong').checked && !isWrong(o, thr)) return false;
    if ($('f-error').checked && !o.error) return false;
    if ($('f-trunc').checked && !(s.truncated || o.finish === 'length')) return false;
    if (q && !(s.id + ' ' + (o.prediction || '') + ' ' + (s.reference || '')).toLowerCase().includes(q)) return false;
    return true;
  });
}
function render(){
  const task = data.tasks[taskSel.value], run = +runSel.value, thr = (+$('f-thr').value) / 100;
  const all = rows(), pages = Math.max(1, Math.ceil(all.length / PER_PAGE));
  page = Math.min(page, pages - 1);
  const body = all.slice(page * PER_PAGE, (page + 1) * PER_PAGE).map(s => {
    const o = s.out[run];
    const prompt = s.prompt.map(m => '<div class="role">' + esc(m[0]) + '</div><pre>' + esc(task.texts[m[1]]) + '</pre>').join('');
    const mets = Object.entries(o.metrics).map(([k, v]) => esc(k) + ': ' + fmt(v)).join('<br>');
    const trunc = [s.truncated ? 'prompt cut by ' + esc(s.cut_tokens) + ' tokens' : '',
                   o.finish === 'length' ? 'answer hit max_tokens' : ''].filter(Boolean).join('<br>');
    return '<tr class="' + (isWrong(o, thr) ? 'wrong' : '') + '"><td>' + esc(s.id) +
      (s.lh_task ? '<br>task ' + esc(s.lh_task) : '') + '</td><td><details><summary>prompt</summary>' + prompt +
      '</details></td><td>' + (o.prediction === null ? '<span class="bad">no answer</span>' : esc(o.prediction)) +
      '</td><td>' + esc(s.reference ?? '') + '</td><td>' + mets + '<br><b>sample score: ' + fmt(o.score) +
      '</b></td><td class="bad">' + esc(o.error ?? '') + '</td><td>' + trunc + '</td></tr>';
  }).join('');
  $('samples').tBodies[0].innerHTML = body || '<tr><td colspan="7">no sample matches the filters</td></tr>';
  $('f-count').textContent = all.length + ' of ' + (task ? task.samples.filter(s => s.out[run]).length : 0) +
    ' samples; page ' + (page + 1) + ' of ' + pages;
}
['f-task','f-run','f-wrong','f-error','f-trunc','f-thr','f-text'].forEach(id =>
  $(id).addEventListener('input', () => { page = 0; render(); }));
$('f-prev').onclick = () => { page = Math.max(0, page - 1); render(); };
$('f-next').onclick = () => { page += 1; render(); };
render();
if (hash.has('task')) $('browser').scrollIntoView();
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>CLUE report</title><style>{style}</style></head><body>
<h1>CLUE report</h1>
<p class="sub">{n_runs} run(s) · clue-client {version} · generated {created}</p>
<h2 id="leaderboard">Leaderboard</h2>
<p>{ranking} Scores in %, 95% CI in brackets; * = some metrics missing.</p>
{leaderboard}
{placement}
<div class="figs">
<figure id="fig-levels">{scatter}<figcaption>Level 1 (MedNLI, MeQSum, Problem Summary) against Level 2
(LongHealth, MeDiSumQA, MeDiSumCode), with 95% CIs.</figcaption></figure>
<figure id="fig-tasks">{bars}<figcaption>Task scores per run{bars_note}.</figcaption></figure>
</div>
{fig_caveat}
<h2 id="notes">Errors and missing metrics</h2>
{notes}
<h2 id="tasks">Per-task metrics</h2>
<p>Metrics in % (mean over scored samples); errored samples are counted, not scored.</p>
{task_tables}
<h2 id="usage">Latency, tokens and cost</h2>
{usage}
<h2 id="runs">Runs</h2>
{runs_info}
<h2 id="browser">Samples</h2>
{withheld}
<div id="controls">
<label>task <select id="f-task"></select></label>
<label>run <select id="f-run"></select></label>
<label><input type="checkbox" id="f-wrong"> wrong only (sample score below
<input type="number" id="f-thr" value="50" min="0" max="100" step="5" style="width:4em">%)</label>
<label><input type="checkbox" id="f-error"> errors only</label>
<label><input type="checkbox" id="f-trunc"> truncated only</label>
<label>search <input type="search" id="f-text" placeholder="id, output or reference"></label>
<button id="f-prev">◀</button><button id="f-next">▶</button><span id="f-count"></span>
</div>
<table id="samples"><thead><tr><th>sample</th><th>prompt</th><th>model output</th><th>reference</th><th>metrics (%)</th>
<th>error</th><th>truncation</th></tr></thead><tbody></tbody></table>
<p class="sub">Sample score = mean of the sample's metrics that make the task score; for accuracy tasks 100 (right) or 0 (wrong).</p>
<script type="application/json" id="clue-data">{data}</script>
<script>{script}</script>
</body></html>
"""
