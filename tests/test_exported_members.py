"""The package's public names all resolve, and nothing else is exported by accident."""

import clue_client


def test_every_exported_name_resolves() -> None:
    for name in clue_client.__all__:
        assert getattr(clue_client, name) is not None, name


def test_exports_are_exactly_the_documented_surface() -> None:
    listing = [line for line in clue_client.__doc__.splitlines() if line.startswith("    ") and ":" in line]
    documented = {word.strip(",") for line in listing for word in line.split(":", 1)[1].split()}
    assert documented == set(clue_client.__all__) - {"__version__"}
