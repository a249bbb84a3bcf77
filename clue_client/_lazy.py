"""Lazy re-exports for package ``__init__`` files: a public name is imported from its module on first use,
so ``import clue_client`` and ``clue --help`` never load aiohttp, matplotlib or polars they do not need."""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable, Iterable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str], also: Iterable[str] = ()
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``; ``exports`` maps a public name to its submodule, ``also``
    names the package's own public attributes."""
    public = sorted({*exports, *also})

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f".{exports[name]}", package), name)

    def __dir__() -> list[str]:
        return public

    return __getattr__, __dir__
