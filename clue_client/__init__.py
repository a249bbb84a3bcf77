"""clue-client: run the CLUE clinical benchmark against any OpenAI-compatible endpoint.

The public library surface is re-exported here (loaded on first use, so ``clue`` starts fast):

    api:     evaluate, load_run, Evaluation
    config:  Endpoint, load_endpoints, resolve_endpoint
    engine:  Engine, Backoff, Request, Result
    store:   Store
    runner:  RunOptions, run_evaluation, score_run_dir
    tasks:   get_task, parse_tasks, BuildContext
    scoring: ScoringOptions, score_run, task_score
    errors:  ClueError, UserError, ConfigError, DataError, ServerUnreachable, GateFailed
"""

from importlib.metadata import PackageNotFoundError, version

from ._lazy import lazy_exports

try:
    __version__ = version("clue-client")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+local"

_EXPORTS = {
    "evaluate": "api", "load_run": "api", "Evaluation": "api",
    "Endpoint": "config", "load_endpoints": "config", "resolve_endpoint": "config",
    "Engine": "engine", "Backoff": "engine", "Request": "engine", "Result": "engine",
    "Store": "store",
    "RunOptions": "runner", "run_evaluation": "runner", "score_run_dir": "runner",
    "get_task": "tasks", "parse_tasks": "tasks", "BuildContext": "tasks",
    "ScoringOptions": "scoring", "score_run": "scoring", "task_score": "scoring",
    "ClueError": "errors", "UserError": "errors", "ConfigError": "errors", "DataError": "errors",
    "ServerUnreachable": "errors", "GateFailed": "errors",
}

__all__ = ["__version__", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, also=["__version__"])
