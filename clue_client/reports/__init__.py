"""Reading finished runs: run folders loaded into typed results, CLUE's published table in the same shape,
terminal tables, the HTML report and the paired comparison of two runs; exports for other tools (Every Eval
Ever files, JUnit XML of the CI gates, GitHub step summaries). Never touches the network or the store's
writers."""

from .._lazy import lazy_exports

_EXPORTS = {
    "Run": "run_folder", "load_run": "run_folder",
    "print_report": "terminal", "print_comparison": "terminal",
    "render_html": "html",
    "Comparison": "compare", "compare_runs": "compare",
    "published_table": "published_table", "select_published": "published_table", "leaderboard": "leaderboard",
    "export_eee": "eee", "write_junit": "junit", "append_step_summary": "step_summary",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
