"""CI gates as a JUnit XML report: one test case per gated task or level, failures carrying the numbers.

CI systems (GitHub Actions test reporters, GitLab, Jenkins) read JUnit XML to show which check failed and
why. A case is a ``--fail-under`` floor of ``clue run`` or the regression gate of ``clue compare`` on one
task or level; its failure message says the score (or difference), its 95% CI and the threshold, and a
passing case carries the same numbers in ``system-out``. Written with the standard library's ElementTree:
a dozen elements need no third-party writer, and ElementTree escapes every text and attribute.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from ..files import replace_atomically

if TYPE_CHECKING:
    from .compare import Comparison
    from .run_folder import Results

__all__ = ["GateCase", "floor_cases", "regression_cases", "junit_xml", "write_junit"]


@dataclass(frozen=True, slots=True)
class GateCase:
    """One gated task or level: ``summary`` is the one-line verdict, ``details`` the numbers behind it."""

    name: str
    passed: bool
    summary: str
    details: str
    kind: str  # the failure type: what kind of gate this is


def _pct(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}"


def _ci(ci: tuple[float, float] | None, signed: bool = False) -> str:
    if ci is None:
        return "95% CI n/a"
    fmt = "{:+.2f}" if signed else "{:.2f}"
    return f"95% CI [{fmt.format(ci[0])}, {fmt.format(ci[1])}]"


def floor_cases(results: Results, floors: Mapping[str, float]) -> list[GateCase]:
    """``clue run --fail-under``: a task (or level) passes when its score is at least its floor."""
    cases = []
    for name, floor in floors.items():
        if name in results.tasks:
            task = results.tasks[name]
            score, ci = task.score, task.ci95
            counts = (f"n = {task.n} scored, {task.n_errors} errored, {task.n_rejected} refused, "
                      f"{task.n_missing} not answered")
        else:
            score, ci = getattr(results, name, None), results.levels_ci95.get(name)
            counts = "level = mean of its three task scores"
        passed = score is not None and score >= floor
        if score is None:
            summary = f"{name} has no score (a task missing or unscored), floor {floor:g}"
        else:
            summary = f"{name} scored {score:.2f} % ({_ci(ci)}) {'>=' if passed else '<'} floor {floor:g}"
        details = f"{summary}\nscore: {_pct(score)}\nfloor: {floor:g}\n{_ci(ci)}\n{counts}"
        cases.append(GateCase(name, passed, summary, details, "clue.ScoreBelowFloor"))
    return cases


def regression_cases(comparison: Comparison, alpha: float, among: Sequence[str] | None = None) -> list[GateCase]:
    """``clue compare --fail-on-regression``: a task (or level) fails when B is significantly worse than A
    (Holm-corrected p below ``alpha``); ``among`` limits the gate as ``--fail-on-regression-in`` does."""
    worse = set(comparison.regressions(alpha, among))
    entries = {**comparison.tasks, **{lv: c for lv, c in comparison.levels.items() if c is not None}}
    cases = []
    for name, c in entries.items():
        if among is not None and name not in among:
            continue
        delta = "n/a" if c.delta is None else f"{c.delta:+.2f}"
        p_holm = "n/a" if c.p_holm is None else f"{c.p_holm:.3g}"
        verdict = ("significant regression" if name in worse else "no significant regression")
        summary = (f"{name}: B - A = {delta} points ({_ci(c.ci95, signed=True)}), Holm p = {p_holm} "
                   f"{'<' if name in worse else 'vs'} alpha {alpha:g}: {verdict}")
        details = (f"{summary}\nA ({comparison.a}): {_pct(c.score_a)} %\nB ({comparison.b}): {_pct(c.score_b)} %\n"
                   f"paired samples: {c.n_paired}\ntest: {c.test}, p = "
                   f"{'n/a' if c.p_value is None else f'{c.p_value:.3g}'}, Holm p = {p_holm}")
        cases.append(GateCase(name, name not in worse, summary, details, "clue.SignificantRegression"))
    return cases


def junit_xml(suite: str, cases: Sequence[GateCase], properties: Mapping[str, str] | None = None) -> bytes:
    """The JUnit XML document: ``<testsuites>`` with one ``<testsuite>`` of ``cases``."""
    failures = sum(not c.passed for c in cases)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": "0", "skipped": "0", "time": "0"}
    root = ET.Element("testsuites", {"name": "clue", **counts})
    node = ET.SubElement(root, "testsuite", {"name": suite, **counts,
                                             "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    if properties:
        props = ET.SubElement(node, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", {"name": key, "value": value})
    for case in cases:
        element = ET.SubElement(node, "testcase", {"classname": suite, "name": case.name, "time": "0"})
        if case.passed:
            ET.SubElement(element, "system-out").text = case.details
        else:
            ET.SubElement(element, "failure", {"message": case.summary, "type": case.kind}).text = case.details
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(path: Path, suite: str, cases: Sequence[GateCase],
                properties: Mapping[str, str] | None = None) -> None:
    document = junit_xml(suite, cases, properties)
    replace_atomically(Path(path), lambda tmp: tmp.write_bytes(document))
