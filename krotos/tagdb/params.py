"""The tag database stage's settings (light: no SQLAlchemy, for the Luigi task to import)."""

import dataclasses

AUDIO_FILTERS = ("any", "local", "none")


@dataclasses.dataclass(frozen=True)
class TagDatabaseParams:
    """What the tag database keeps (the ``TagDatabase`` stage's settings; the
    defaults are luigi.cfg's ``[TagDatabase]``).

    Parameters
    ----------
    n_tags : int
        Vocabulary size: the ``n_tags`` tags on most tracks with weight >= ``min_weight``.
    min_weight : float
        Last.fm weight (0..100, relative to the track's top tag) from which a tag
        counts as present.
    audio_filter : {'any', 'local', 'none'}
        Keep tracks with a 7digital id or local preview / with a local preview / all.
    """

    n_tags: int = 50
    min_weight: float = 10.0
    audio_filter: str = "any"

    def __post_init__(self):
        if self.audio_filter not in AUDIO_FILTERS:
            raise ValueError(f"audio_filter must be one of {AUDIO_FILTERS}, "
                             f"got {self.audio_filter!r}")
        if self.n_tags < 1:
            raise ValueError(f"n_tags must be >= 1, got {self.n_tags}")
