"""Recognise audio files by their first bytes, and reject what is not audio.

A preview server under load answers with HTML error pages, empty bodies and
cut-off transfers, often with status 200. Such a body must never be stored as
``<id>.mp3``, or every later run would treat it as a valid, cached preview.
"""

from __future__ import annotations

import os

import soundfile as sf


class NotAudio(Exception):
    """The bytes are not a usable audio file; the message says why."""


def sniff(head: bytes) -> str | None:
    """Name the container of an audio file from its first bytes.

    Parameters
    ----------
    head : bytes
        At least the first 12 bytes.

    Returns
    -------
    str or None
        'mp3', 'ogg', 'flac', 'wav', 'aiff' or None when unrecognised.
    """
    if head.startswith(b"ID3"):
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        return "mp3"  # an MPEG audio frame sync word, no ID3 tag
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    return None


def describe(head: bytes) -> str:
    """A short human description of non-audio bytes (for error messages)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head:
        return "empty body"
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<")):
        return "an HTML/XML page"
    if text.startswith((b"{", b"[")):
        return "JSON"
    return f"unrecognised bytes {head[:8]!r}"


def check_audio_file(path: str, expected_size: int | None = None) -> str:
    """Raise :class:`NotAudio` unless ``path`` looks like a complete audio file.

    Parameters
    ----------
    path : str
    expected_size : int, optional
        The size the server announced (Content-Length); a shorter file is a
        truncated transfer.

    Returns
    -------
    str
        The recognised container ('mp3', ...).
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    if size == 0:
        raise NotAudio(f"{path}: empty file")
    if expected_size is not None and size != expected_size:
        raise NotAudio(f"{path}: truncated ({size} of {expected_size} bytes)")
    with open(path, "rb") as f:
        head = f.read(64)
    kind = sniff(head)
    if kind is None:
        raise NotAudio(f"{path}: not audio ({describe(head)})")
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise NotAudio(f"{path}: {kind} header not readable ({exc})") from exc
    if info.frames <= 0:
        raise NotAudio(f"{path}: {kind} file with no audio frames")
    return kind
