"""One exception hierarchy for everything a user can cause or meet.

    ClueError
    ├── UserError          bad config, missing file, unknown task, malformed data: exit 2, one line
    │   ├── ConfigError    endpoints.toml problems (names file, endpoint and key)
    │   ├── DataError      dataset file problems (names file, record and field)
    │   └── ServerUnreachable  the endpoint does not answer at all
    └── GateFailed         a --fail-under / --fail-on-regression gate tripped: exit 4

The CLI catches ClueError at the top and prints ``str(exc)`` as a single line.
"""

from __future__ import annotations

__all__ = ["ClueError", "UserError", "ConfigError", "DataError", "ServerUnreachable", "GateFailed"]


class ClueError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code: int = 1


class UserError(ClueError):
    """Something the user can fix; reported as one line, exit 2."""

    exit_code = 2


class ConfigError(UserError):
    """endpoints.toml is invalid or refers to something missing."""


class DataError(UserError):
    """A dataset file is missing or does not match its schema."""


class ServerUnreachable(UserError):
    """The endpoint refused or timed out before any request could be made."""


class GateFailed(ClueError):
    """A CI gate (score floor or significant regression) failed."""

    exit_code = 4
