"""Subcommands of ``clue``; one module per group, each with ``add_parser(subparsers)``."""
