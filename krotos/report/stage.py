"""The run report as one call: what the pipeline's ``Report`` hands its inputs to."""

from __future__ import annotations

import os


def frame_rate_of(features: dict) -> float | None:
    """Frames per second of a manifest's ``params`` (mel: sample rate over hop; Echo Nest:
    its ``frame_rate``), or None when they say neither."""
    if features.get("sample_rate") and features.get("hop_length"):
        return float(features["sample_rate"]) / float(features["hop_length"])
    if features.get("frame_rate"):
        return float(features["frame_rate"])
    return None


def present_variants(variants: dict[str, dict[str, str]],
                     current: str) -> dict[str, dict[str, str]] | None:
    """The feature settings whose evaluations the report sets side by side.

    Parameters
    ----------
    variants : dict
        ``{features setting: {"tag_metrics", "cold_metrics": path}}``, the current one among them.
    current : str
        This run's setting: always first; another one only when one of its files exists.

    Returns
    -------
    dict or None
        None when only the current setting has evaluations (nothing to compare).
    """
    out = {current: variants[current]}
    for name, files in variants.items():
        if name != current and any(os.path.exists(p) for p in files.values()):
            out[name] = files
    return out if len(out) > 1 else None


def report_stage(out_dir: str, files: dict[str, str], variants: dict[str, dict[str, str]],
                 current: str, *, n_example_tags: int = 4, examples_per_tag: int = 2) -> str:
    """Write the run report (see :func:`krotos.report.html.build_report`) into ``out_dir``.

    Parameters
    ----------
    out_dir : str
        The report's folder (created).
    files : dict
        Paths of the inputs: ``manifest`` (the shard store's), ``tagdb``
        (``tags.sqlite``), ``tagdb_summary`` and ``plays_summary`` (the
        ``summary.json`` of the tag database and the play matrix),
        ``tag_training``, ``tag_metrics``, ``latent_training``, ``cf_metrics``,
        ``cold_metrics``.
    variants, current : dict, str
        The evaluations of each feature setting, and this run's (see :func:`present_variants`).
    n_example_tags, examples_per_tag : int
        Tags shown with spectrogram examples, and examples per tag.

    Returns
    -------
    str
        The path of ``index.html``.
    """
    from krotos.report.examples import spectrogram_examples
    from krotos.report.html import build_report
    from krotos.shards.manifest import read_manifest
    from krotos.tagdb import TagDB

    manifest = read_manifest(files["manifest"])
    with TagDB(files["tagdb"]) as db:
        examples = spectrogram_examples(
            [s["path"] for s in manifest["shards"]], db.tag_matrix, db.vocabulary(),
            n_tags=n_example_tags, per_tag=examples_per_tag)
    os.makedirs(out_dir)
    return build_report(
        out_dir, summaries={"TagDatabase": files["tagdb_summary"],
                            "PlayMatrix": files["plays_summary"]},
        manifest=files["manifest"], spectrogram_examples=examples,
        frame_rate=frame_rate_of(manifest.get("params", {})),
        tag_training=files["tag_training"], tag_metrics=files["tag_metrics"],
        latent_training=files["latent_training"], cf_metrics=files["cf_metrics"],
        cold_metrics=files["cold_metrics"], variants=present_variants(variants, current))
