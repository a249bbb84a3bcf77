"""clue-client: run the CLUE clinical benchmark against any OpenAI-compatible endpoint.

The public library surface is re-exported here (loaded on first use, so ``clue`` starts fast):

    config:  Endpoint, load_endpoints, resolve_endpoint
    engine:  Engine, Backoff, Request, Result
    store:   Store
    runs:    RunOptions, run_evaluation, score_run_dir
    tasks:   get_task, parse_tasks, BuildContext
    scoring: ScoringOptions, score_run, task_score
    errors:  ClueError, UserError, ConfigError, DataError, ServerUnreachable, GateFailed
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("clue-client")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+local"

_EXPORTS = {
    "Endpoint": "config", "load_endpoints": "config", "resolve_endpoint": "config",
    "Engine": "engine", "Backoff": "engine", "Request": "request", "Result": "request",
    "Store": "store",
    "RunOptions": "runner", "run_evaluation": "runner", "score_run_dir": "runner",
    "get_task": "tasks", "parse_tasks": "tasks", "BuildContext": "tasks",
    "ScoringOptions": "scoring", "score_run": "scoring", "task_score": "scoring",
    "ClueError": "errors", "UserError": "errors", "ConfigError": "errors", "DataError": "errors",
    "ServerUnreachable": "errors", "GateFailed": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'clue_client' has no attribute '{name}'")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
