"""How well a perfect ear could tag the demo: the ceiling of its tag figures.

The demo knows what every track is made of (:class:`krotos.demo.arrange.SongSpec`):
its groove, harmony and melody styles, meter and groove, tempo, mode,
instruments, drums and production. A model that heard all of that exactly
would still miss what the tags owe to chance (a tagger who did not bother,
a sub-genre word for a song of mixed styles) and to things no audio carries
(era, "seen live", locale). The ceiling is that model, made of the same
parts as the linear probe (:func:`krotos.model.embed.linear_probe_scores`):
one logistic regression per tag on the true attributes, trained on the
training songs, its C chosen on the validation songs, scored on the test
songs with intervals over clips. A tag CNN far below it hears less than is
there to hear; near it, the demo's tags, not the model, are the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from krotos.demo.styles import STYLES, Style

if TYPE_CHECKING:
    from krotos.demo.catalogue import Catalogue

#: Tempo bands a listener tells apart (beats per minute): one indicator per band,
#: since tempo words and moods change at thresholds, not along a line.
TEMPO_EDGES = tuple(range(60, 190, 10))


def _one_hot(value, values):
    row = np.zeros(len(values))
    row[values.index(value)] = 1.0
    return row


def audible_attributes(catalogue: Catalogue,
                       styles: Sequence[Style] = STYLES) -> tuple[list[str], np.ndarray]:
    """What each track's audio is made of, as one feature row per track.

    Parameters
    ----------
    catalogue : krotos.demo.catalogue.Catalogue
    styles : sequence of Style

    Returns
    -------
    track_ids : list of str
    features : np.ndarray float64 (n_tracks, n_features)
        Indicators of the groove, harmony and melody styles, the groove, the
        mode, the lead, accompanying and bass instruments and tempo bands;
        tempo, melody density, legato, swing, drums and the production
        (brightness, saturation, reverb, level). A mismatched track has the
        attributes of the audio it really carries. Nothing about the artist's
        era, scene or listeners.
    """
    specs = [catalogue.track_spec(i) for i in range(len(catalogue.track_ids))]
    grooves = sorted({(s.groove_style, s.groove) for s in specs})
    modes = sorted({s.mode for s in specs})
    instruments = sorted({getattr(s, part) for s in specs for part in ("lead", "comp", "bass")})
    style_ids = list(range(len(styles)))
    rows = []
    for s in specs:
        rows.append(np.concatenate([
            _one_hot(s.groove_style, style_ids), _one_hot(s.harmony_style, style_ids),
            _one_hot(s.melody_style, style_ids), _one_hot((s.groove_style, s.groove), grooves),
            _one_hot(s.mode, modes),
            *(_one_hot(getattr(s, part), instruments) for part in ("lead", "comp", "bass")),
            [float(s.tempo >= edge) for edge in TEMPO_EDGES],
            [s.tempo / 100.0, s.density, s.legato, s.swing, float(s.drums),
             s.brightness, float(s.drive), s.reverb, s.level],
        ]))
    return list(catalogue.track_ids), np.asarray(rows, dtype=np.float64)


def tag_ceiling(catalogue: Catalogue, splits: dict[str, list[str]], targets: dict[str, np.ndarray],
                *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Macro ROC-AUC / PR-AUC of tags predicted from the true audible attributes.

    Parameters
    ----------
    catalogue : krotos.demo.catalogue.Catalogue
        The world the demo dataset was written from (same ``n_songs``,
        ``n_users``, ``seed``).
    splits : dict
        ``{"train": [...], "valid": [...], "test": [...]}`` track ids.
    targets : dict
        ``track_id -> 0/1 tag vector`` over the vocabulary.
    n_resamples, seed : int
        Bootstrap over test clips, as the tag evaluation draws it.

    Returns
    -------
    dict
        ``models.audible_attributes``: ``roc_auc_macro`` and ``pr_auc_macro``
        intervals; ``bootstrap``; ``probe`` (the C chosen on validation, the
        counts of tracks); ``n_features``.

    Raises
    ------
    ValueError
        No test track with tags, or the probe's own errors (no training or
        validation track).
    """
    from krotos.model.embed import linear_probe_scores
    from krotos.stats import tag_metric_intervals

    track_ids, features = audible_attributes(catalogue)
    test_ids, scores, info = linear_probe_scores(track_ids, features, splits, targets, seed=seed)
    if not test_ids:
        raise ValueError(f"no test track has tags (of {len(splits.get('test') or [])})")
    labels = np.stack([np.asarray(targets[t], dtype=np.float64).reshape(-1) for t in test_ids])
    result = tag_metric_intervals(labels, {"audible_attributes": scores},
                                  n_resamples=n_resamples, seed=seed)
    del result["paired"]
    result["probe"] = info
    result["n_features"] = int(features.shape[1])
    return result
