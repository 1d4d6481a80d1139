"""Per-track outcomes of fetching and extraction, as stored in the manifest."""

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

ALL = (OK, MISSING_PREVIEW, FETCH_FAILED, UNDECODABLE, TOO_SHORT, SILENT)


def entry(status, reason=""):
    """A ``{"status", "reason"}`` record (the manifest's per-track value)."""
    if status not in ALL:
        raise ValueError(f"unknown track status {status!r}")
    return {"status": status, "reason": str(reason)}
