"""The public surface keeps working: the package's names all resolve (and nothing else is exported by
accident), each subpackage's names resolve, and every ``clue`` subcommand and flag in the contract exists."""

import argparse
import importlib
from pathlib import Path

import pytest

import clue_client
from clue_client.cli import build_parser

SUBPACKAGES = ["engine", "serving", "reports", "datasets", "tasks", "scoring", "protocols", "integrations"]
CONTRACT = Path(__file__).with_name("cli_contract.txt")


def test_every_exported_name_resolves() -> None:
    for name in clue_client.__all__:
        assert getattr(clue_client, name) is not None, name


def test_exports_are_exactly_the_documented_surface() -> None:
    listing = [line for line in clue_client.__doc__.splitlines() if line.startswith("    ") and ":" in line]
    documented = {word.strip(",") for line in listing for word in line.split(":", 1)[1].split()}
    assert documented == set(clue_client.__all__) - {"__version__"}


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_surface_resolves(name: str) -> None:
    package = importlib.import_module(f"clue_client.{name}")
    assert package.__doc__ and len(package.__doc__.strip().splitlines()) >= 2, "say in two lines what lives here"
    for public in getattr(package, "__all__", []):
        assert getattr(package, public) is not None, f"clue_client.{name}.{public}"


def _commands_and_flags(parser: argparse.ArgumentParser, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.add(f"{prefix}{name}")
                found |= _commands_and_flags(sub, f"{prefix}{name} ")
        else:
            found |= {f"{prefix}{option}" for option in action.option_strings}
    return found


def test_every_command_and_flag_in_the_contract_exists() -> None:
    contract = {line for line in CONTRACT.read_text().splitlines() if line and not line.startswith("#")}
    missing = contract - _commands_and_flags(build_parser())
    assert not missing, f"renamed or removed: {sorted(missing)}"
