"""The ``krotos`` command.

Each subcommand lives in its own module under :mod:`krotos.commands` and
exposes ``add_parser(subparsers)`` (which registers its arguments and sets
``func``); modules are discovered, so adding a command touches no other file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import krotos
import krotos.commands


def build_parser() -> argparse.ArgumentParser:
    """The ``krotos`` parser, one subcommand per module of :mod:`krotos.commands`."""
    parser = argparse.ArgumentParser(
        prog="krotos", description="Content-based music recommendation: use a trained krotos model.")
    parser.add_argument("--version", action="version", version=f"krotos {krotos.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(krotos.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"krotos.commands.{info.name}")
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``krotos`` with ``argv`` (default: the command line); the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except krotos.commands.CommandError as exc:
        print(f"krotos {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
