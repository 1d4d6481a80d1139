"""Canonical tag names: one name for every spelling of the same tag.

Last.fm tags are free text, so ``Hip-Hop``, ``hip hop``, ``HIP_HOP`` and
``hip-hop`` are four rows of ``lastfm_tags.db`` for one idea. They merge when
they agree after Unicode compatibility normalization (full-width letters,
ligatures), case folding, and treating dashes, underscores and runs of
whitespace as one space. Nothing cleverer (``rnb`` vs ``r&b``, plurals): a
rule a user can predict beats a rule that guesses.
"""

import unicodedata


def canonical_tag(raw: str) -> str:
    """Return the canonical form of a raw tag, or ``""`` if nothing is left.

    Examples
    --------
    >>> canonical_tag("  Hip-Hop ")
    'hip hop'
    >>> canonical_tag("ＲＯＣＫ")
    'rock'
    >>> canonical_tag("drum_and\\tbass")
    'drum and bass'
    """
    text = unicodedata.normalize("NFKC", raw).casefold()
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cf":
            continue  # zero-width joiners, BOMs, direction marks: invisible, not separators
        if ch == "_" or category in ("Pd", "Cc", "Zs", "Zl", "Zp") or ch.isspace():
            out.append(" ")
        else:
            out.append(ch)
    return " ".join("".join(out).split())


def most_frequent_spelling(counts: dict[str, int]) -> str:
    """Pick the display name among raw spellings: most rows, then alphabetical.

    Parameters
    ----------
    counts : dict
        ``{raw spelling: number of rows}``.
    """
    return min(counts.items(), key=lambda item: (-item[1], item[0]))[0]
