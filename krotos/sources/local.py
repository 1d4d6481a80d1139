"""Previews already on disk, one file per track.

A file is named after the track's 7digital id (``<track_7digitalid>.mp3``, as
the previews were downloaded) or its MSD track id (``<track_id>.ogg``); mp3,
ogg, wav and flac are accepted.
"""

from __future__ import annotations

import os
from typing import Any

from krotos.shards import status as st

EXTENSIONS = (".mp3", ".ogg", ".wav", ".flac")


class LocalPreviews:
    """Find each track's preview in ``folder``.

    Parameters
    ----------
    folder : str
        Flat folder of preview files.

    Notes
    -----
    Each lookup stats at most a handful of candidate names, instead of listing
    the folder, so that a shard of 100 tracks costs the same in a folder of a
    thousand previews or of a million.
    """

    #: Files are referenced where they are, never copied.
    downloads = False

    def __init__(self, folder):
        self.folder = os.path.abspath(os.fspath(folder))
        if not os.path.isdir(self.folder):
            raise FileNotFoundError(f"preview folder {self.folder} does not exist")

    def candidates(self, track_id: str, track_7digitalid: int | str | None = None) -> list[str]:
        """Paths tried for a track, in order of preference."""
        stems = []
        if track_7digitalid not in (None, "", 0):
            stems.append(str(int(track_7digitalid)))
        stems.append(str(track_id))
        return [os.path.join(self.folder, stem + ext)
                for stem in stems for ext in EXTENSIONS + tuple(e.upper() for e in EXTENSIONS)]

    def find(self, track_id: str, track_7digitalid: int | str | None = None) -> str | None:
        """Path of the track's preview, or None."""
        for path in self.candidates(track_id, track_7digitalid):
            if os.path.isfile(path):
                return path
        return None

    def get(self, track: Any) -> dict:
        """Resolve one track to a preview record.

        Parameters
        ----------
        track : object
            Has ``track_id`` and ``track_7digitalid`` (a ``TagDB`` Track).

        Returns
        -------
        dict
            ``{"track_id", "path", "status", "reason"}``; status
            ``missing_preview`` when no file matches.
        """
        path = self.find(track.track_id, track.track_7digitalid)
        if path is None:
            name = (f"{track.track_7digitalid} or {track.track_id}"
                    if track.track_7digitalid else track.track_id)
            return {"track_id": track.track_id, "path": None,
                    "status": st.MISSING_PREVIEW,
                    "reason": f"no {name}.{{mp3,ogg,wav,flac}} in [krotos] previews"}
        return {"track_id": track.track_id, "path": path, "status": st.OK, "reason": ""}
