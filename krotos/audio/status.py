"""Per-track outcomes of fetching and extraction, as stored in the manifest.

One vocabulary for both feature kinds: audio previews (mel spectrograms) and
the Echo Nest analyses of MSD HDF5 files (``features = echonest``).
"""

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


def entry(status, reason=""):
    """A ``{"status", "reason"}`` record (the manifest's per-track value)."""
    if status not in ALL:
        raise ValueError(f"unknown track status {status!r}")
    return {"status": status, "reason": str(reason)}
