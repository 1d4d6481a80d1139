"""Subcommands of the ``krotos`` command, one module each.

A module defines ``add_parser(subparsers)``, which adds its parser and sets
``func`` (called with the parsed arguments; returns an exit code). Keep
imports of heavy libraries (TensorFlow) inside ``func``, so that
``krotos --help`` stays fast.
"""


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 1."""
