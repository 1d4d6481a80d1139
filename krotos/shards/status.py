"""Per-track outcomes of fetching and extraction, as stored in the manifest.

One vocabulary for both feature kinds: audio previews (mel spectrograms) and
the Echo Nest analyses of MSD HDF5 files (``features = echonest``), and one
exception, :class:`Rejected`, that every extraction raises for a track it
refuses: its ``status`` and ``reason`` are what the manifest records.
"""

import collections

OK = "ok"
#: No preview for this track: no file in the local folder, or HTTP 404.
MISSING_PREVIEW = "missing_preview"
#: The download failed after the retries (HTTP 5xx/429, timeouts, truncated
#: transfers, a body that is not audio).
FETCH_FAILED = "fetch_failed"
#: Neither decoder could read the file (corrupt, truncated, not audio).
UNDECODABLE = "undecodable"
#: Shorter than ``min_seconds``; recorded rather than padded.
TOO_SHORT = "too_short"
#: Peak level below ``silence_db`` dBFS: nothing to learn from.
SILENT = "silent"

#: No MSD HDF5 file for this track under ``msd_h5``.
MISSING_H5 = "missing_h5"
#: The file is not HDF5 at all (truncated, empty, another format).
UNREADABLE_H5 = "unreadable_h5"
#: HDF5, but not an MSD track file (no ``metadata/songs`` / ``analysis/songs``
#: tables) or the file of another track.
NOT_MSD_TRACK = "not_msd_track"
#: The analysis cannot be used: segment arrays missing, zero segments, arrays
#: of different lengths, NaN/inf values, or too much disorder to repair.
BAD_ANALYSIS = "bad_analysis"

ALL = (OK, MISSING_PREVIEW, FETCH_FAILED, UNDECODABLE, TOO_SHORT, SILENT,
       MISSING_H5, UNREADABLE_H5, NOT_MSD_TRACK, BAD_ANALYSIS)


def _check(status):
    if status not in ALL:
        raise ValueError(f"unknown track status {status!r}")
    return status


def entry(status: str, reason: str = "") -> dict:
    """A ``{"status", "reason"}`` record (the manifest's per-track value).

    Parameters
    ----------
    status : str
        One of :data:`ALL`.
    reason : str
        Why, naming the input file; empty for a plain ``ok``.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        ``status`` is not one of :data:`ALL`.
    """
    return {"status": _check(status), "reason": str(reason)}


class Rejected(Exception):
    """A track that yields no feature matrix: its manifest status and the reason.

    Raised by the extraction of either feature kind
    (:func:`krotos.audio.extract.spectrogram_of_file`,
    :func:`krotos.features.echonest.features_of_file`) and recorded by the
    shard's extraction loop as :meth:`entry`.

    Parameters
    ----------
    status : str
        One of :data:`ALL` other than :data:`OK`.
    reason : str
        Why, naming the input file.
    """

    def __init__(self, status, reason):
        if _check(status) == OK:
            raise ValueError("a rejected track cannot have status 'ok'")
        super().__init__(reason)
        self.status = status
        self.reason = str(reason)

    def entry(self) -> dict:
        """The manifest's ``{"status", "reason"}`` record of this rejection."""
        return entry(self.status, self.reason)


def count_statuses(results: dict[str, dict]) -> dict[str, int]:
    """``{status: count}`` over a ``track_id -> {"status", ...}`` mapping."""
    return dict(collections.Counter(r["status"] for r in results.values()))
