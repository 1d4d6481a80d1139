"""The progress callback that long-running functions take.

Functions that run for a while (decoding audio, building the tag database,
fitting ALS, training) take a ``progress=`` argument: a callable
``progress(fraction, message=None)`` where ``fraction`` runs from 0 to 1 and
``message`` is an optional short status line. A Luigi task passes one that
forwards to ``set_progress_percentage`` and ``set_status_message``; the command
line passes one that prints. A function given no callback (``progress=None``
or left out) uses :func:`no_progress`.

Callbacks should accept ``message`` both positionally and left out: some
callers pass only the fraction.
"""

from typing import Protocol


class Progress(Protocol):
    """``progress(fraction, message=None)``: report ``fraction`` (0 to 1) done."""

    def __call__(self, fraction: float, message: str | None = None) -> None: ...


def no_progress(fraction: float, message: str | None = None) -> None:
    """The :class:`Progress` callback that reports nothing."""
