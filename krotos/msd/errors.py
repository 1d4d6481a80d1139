"""How the readers report bad input.

Two kinds of trouble, two answers:

* a *row* that cannot be used (wrong field count, a count that is not an
  integer, a dangling ROWID, ...) is recorded in a :class:`BadInputLog` and
  skipped, so one bad line in 48 million does not stop a run;
* a *file* that cannot be read at all (not SQLite, truncated HDF5, a table
  missing) raises :class:`InputFileError`, whose message names the file.

Every reader takes an optional ``errors`` collector; one collector can be
shared by all the readers of a build so the summary covers every input.
"""

from __future__ import annotations

import collections
import logging
import os

log = logging.getLogger(__name__)


class InputFileError(Exception):
    """An input file that cannot be read at all; the message names the file."""


class EmptyResultError(ValueError):
    """A stage whose result would be empty (or all undefined) fails with this.

    The message names the input and the reasons its rows were dropped, so
    that an empty or all-NaN output never passes for a result.
    """


BadInput = collections.namedtuple("BadInput", "path line reason detail")
BadInput.__doc__ = """One rejected row: file, line (1-based int) or row label (str), reason, detail."""


def _format(item):
    where = f"{item.path}:{item.line}" if item.line is not None else str(item.path)
    text = f"{where}: {item.reason}"
    return f"{text} ({item.detail})" if item.detail else text


BadInput.__str__ = _format


class BadInputLog:
    """Collects rejected rows: counts every one, keeps the first few as examples.

    Parameters
    ----------
    max_examples : int
        How many rows to keep (and log as warnings) per reason; the rest are
        only counted, so that a file full of bad lines costs no memory.

    Examples
    --------
    >>> errors = BadInputLog()
    >>> errors.add("train_triplets.txt", 17, "non-integer count", "'x'")
    >>> errors.counts_by_reason()
    {'non-integer count': 1}
    >>> str(errors.examples[0])
    "train_triplets.txt:17: non-integer count ('x')"
    """

    def __init__(self, max_examples=5):
        self.max_examples = int(max_examples)
        self._counts = collections.Counter()
        self._by_file = collections.Counter()
        self.examples = []

    def add(self, path: str | os.PathLike, line: int | str | None, reason: str,
            detail: str = "", count: int = 1) -> None:
        """Record one rejected row (or ``count`` alike rows at one place).

        Parameters
        ----------
        path : str or os.PathLike
            The input file.
        line : int or str or None
            1-based line number, or a row label such as ``"tid_tag rowid 12"``.
        reason : str
            Short category; rows are counted per reason.
        detail : str, optional
            What exactly was wrong (the offending value, an exception text).
        count : int, optional
            Number of rows this entry stands for (e.g. extra duplicates).
        """
        self._counts[reason] += count
        self._by_file[os.fspath(path)] += count
        if self._counts[reason] - count < self.max_examples:
            item = BadInput(os.fspath(path), line, reason, detail)
            self.examples.append(item)
            log.warning("bad input: %s", item)

    def counts_by_reason(self) -> dict[str, int]:
        """Return ``{reason: number of rows}``, most frequent first."""
        return dict(self._counts.most_common())

    def counts_by_file(self) -> dict[str, int]:
        """Return ``{path: number of rejected rows}``."""
        return dict(self._by_file.most_common())

    @property
    def total(self) -> int:
        """Number of rejected rows."""
        return sum(self._counts.values())

    def __len__(self):
        return self.total

    def __bool__(self):
        # A log is a collector, not a flag: ``errors or BadInputLog()`` must
        # keep an empty log the caller passed in.
        return True

    def summary(self) -> dict:
        """JSON-able report: totals, counts by reason and by file, examples."""
        return {
            "total": self.total,
            "by_reason": self.counts_by_reason(),
            "by_file": self.counts_by_file(),
            "examples": [str(item) for item in self.examples],
        }

    def describe(self, max_reasons: int = 5) -> str:
        """One line for error messages: rejected rows by reason, and the first example.

        Examples
        --------
        >>> errors.describe()
        "2 rows rejected: 1 non-integer count, 1 empty line (first: triplets.txt:3: empty line)"
        """
        if not self.total:
            return "no row rejected"
        reasons = list(self.counts_by_reason().items())
        text = ", ".join(f"{n:,} {reason}" for reason, n in reasons[:max_reasons])
        if len(reasons) > max_reasons:
            text += f", and {len(reasons) - max_reasons} other reason(s)"
        first = f" (first: {self.examples[0]})" if self.examples else ""
        return f"{self.total:,} row(s) rejected: {text}{first}"

    def __repr__(self):
        return f"BadInputLog(total={self.total}, by_reason={self.counts_by_reason()})"


def ensure_log(errors: BadInputLog | None) -> BadInputLog:
    """Return ``errors``, or a fresh :class:`BadInputLog` when it is None."""
    return BadInputLog() if errors is None else errors
