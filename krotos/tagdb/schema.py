"""SQLAlchemy declarative schema of ``tags.sqlite``, the tag database.

::

    tracks       one row per usable track (in track_metadata, with an audio source)
    tags         canonical tags that occur on those tracks
    tag_spellings  raw Last.fm spellings -> canonical tag
    track_tags   (track, tag, weight): max weight over merged spellings
    vocabulary   the top-n tags; ``idx`` is the model's output order
    song_tracks  song_id -> track_id, sid_mismatches pairs removed
    mismatches   the (song_id, track_id) pairs read from sid_mismatches.txt
    meta         build parameters and sources, JSON values
"""

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Bumped whenever the schema changes; stored in ``meta``.
SCHEMA_VERSION = 2


class Base(DeclarativeBase):
    pass


class Track(Base):
    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[str] = mapped_column(String(32), unique=True)
    song_id: Mapped[str] = mapped_column(String(32), index=True)
    artist_id: Mapped[str] = mapped_column(String(32))
    artist: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    release: Mapped[str] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column(Float)
    year: Mapped[int | None] = mapped_column(Integer)
    track_7digitalid: Mapped[int | None] = mapped_column(Integer)
    #: Number of vocabulary tags with weight >= min_weight (0: untagged for the model).
    n_vocab_tags: Mapped[int] = mapped_column(Integer, default=0)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    #: The most frequent raw spelling, for people.
    display: Mapped[str] = mapped_column(Text)
    #: Tracks with weight >= min_weight.
    n_tracks: Mapped[int] = mapped_column(Integer)
    #: Tracks with any weight.
    n_tracks_any: Mapped[int] = mapped_column(Integer)
    n_spellings: Mapped[int] = mapped_column(Integer)


class TagSpelling(Base):
    __tablename__ = "tag_spellings"

    raw: Mapped[str] = mapped_column(Text, primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"), index=True)
    n_rows: Mapped[int] = mapped_column(Integer)


class TrackTag(Base):
    __tablename__ = "track_tags"

    track: Mapped[int] = mapped_column(ForeignKey("tracks.id"), primary_key=True)
    tag: Mapped[int] = mapped_column(ForeignKey("tags.id"), primary_key=True)
    weight: Mapped[float] = mapped_column(Float)

    # The (track, tag) key is the table (no rowid: millions of rows in a real
    # build); the second index answers "which tracks carry tag t above the
    # threshold" without a scan.
    __table_args__ = (Index("ix_track_tags_tag_weight", "tag", "weight"),
                      {"sqlite_with_rowid": False})


class Vocabulary(Base):
    __tablename__ = "vocabulary"

    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"), unique=True)
    name: Mapped[str] = mapped_column(Text)
    n_tracks: Mapped[int] = mapped_column(Integer)


class SongTrack(Base):
    __tablename__ = "song_tracks"

    song_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.track_id"), index=True)


class Mismatch(Base):
    __tablename__ = "mismatches"

    song_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    track_id: Mapped[str] = mapped_column(String(32), primary_key=True)


class Meta(Base):
    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
