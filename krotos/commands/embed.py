"""``krotos embed``: the penultimate-layer embedding of audio files, or of every catalogue track."""

from __future__ import annotations

import argparse
import json
import os
import sys

from krotos.commands import CommandError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the command's arguments on ``subparsers``."""
    p = subparsers.add_parser(
        "embed", help="embeddings (the tag model's last hidden layer) of audio files",
        description="Embed audio files (or, with --catalogue, every track with a spectrogram) "
                    "with a tag model's last hidden layer: vectors to train a small classifier "
                    "on with few labels, or to compare songs. Any tag model works, including "
                    "one trained on another dataset, as long as the audio is turned into the "
                    "same features (read from the model's features.json).")
    p.add_argument("files", nargs="*", metavar="FILE", help="audio files")
    p.add_argument("--catalogue", action="store_true",
                   help="embed every track of the current configuration's spectrogram shards "
                        "(needs --out FILE.h5)")
    p.add_argument("--out", metavar="OUT",
                   help="write OUT.h5 (track_ids = the files, embeddings), OUT.npy "
                        "((n_files, dim) float32 in argument order, NaN rows for files that "
                        "failed) or OUT.json ({file: vector or null}); default: one JSON "
                        "object per file on stdout")
    p.add_argument("--tag-model", metavar="DIR",
                   help="a TrainTagModel output folder or a model.keras file (default: the "
                        "tag model of the current luigi.cfg and [krotos] data_root)")
    p.add_argument("--max-windows", type=int, default=0, metavar="N",
                   help="model windows averaged per file, evenly spaced (0: all)")
    p.add_argument("--threads", type=int, default=0, metavar="N",
                   help="TensorFlow threads (default 0: all cores)")
    p.set_defaults(func=run)


def _configured_manifest():
    """The current configuration's spectrogram manifest (its path; it may not exist yet)."""
    from pipeline.features import ShardIndex, feature_index_task

    from krotos.config import ConfigError

    try:
        return feature_index_task().file(ShardIndex.MANIFEST)
    except (ConfigError, ValueError) as exc:
        raise CommandError(str(exc)) from None


def _configured_tag_model():
    """The current configuration's TrainTagModel folder and spectrogram manifest."""
    import pipeline

    from krotos.config import ConfigError

    try:
        folder = pipeline.TrainTagModel().output_dir
    except (ConfigError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    if not os.path.isfile(os.path.join(folder, pipeline.TrainTagModel.MODEL)):
        raise CommandError(f"no trained tag model for the current configuration (looked for "
                           f"{folder}): run `luigi --module pipeline TrainTagModel` first, or "
                           f"give --tag-model DIR")
    return folder, _configured_manifest()


def run(args: argparse.Namespace) -> int:
    """Run the command with the parsed ``args``; the exit status."""
    if args.catalogue == bool(args.files):
        raise CommandError("give audio files, or --catalogue (not both)")
    if args.max_windows < 0:
        raise CommandError("--max-windows must be >= 0")
    if args.out and not args.out.endswith((".h5", ".npy", ".json")):
        raise CommandError(f"--out {args.out}: the name must end in .h5, .npy or .json")
    if args.catalogue and not (args.out or "").endswith(".h5"):
        raise CommandError("--catalogue writes an HDF5 file: give --out FILE.h5")
    if args.threads:
        from krotos.model.train import configure_threads

        configure_threads(args.threads, min(2, args.threads))
    from krotos.model.embed import model_features, model_file

    manifest = None
    if args.tag_model:
        try:
            model = model_file(args.tag_model)
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None
    else:
        folder, manifest = _configured_tag_model()
        import pipeline

        model = os.path.join(folder, pipeline.TrainTagModel.MODEL)
    if args.catalogue:
        return _catalogue(model, manifest, args)
    params = None
    if model_features(model) is None:
        # An older model without features.json: the configuration's features.
        params = _manifest_params(manifest or _configured_manifest())
    return _files(model, params, args)


def _manifest_params(path):
    from krotos.shards.manifest import read_manifest

    if not os.path.isfile(path):
        raise CommandError(f"{path} does not exist: run `luigi --module pipeline "
                           f"SpectrogramIndex` first")
    return read_manifest(path)["params"]


def _catalogue(model, manifest, args):
    from krotos.shards.manifest import read_manifest
    from krotos.model.embed import check_same_features, embed_tracks

    params = _manifest_params(manifest or _configured_manifest())
    try:
        for warning in check_same_features(model, params, "the catalogue's spectrograms"):
            print(f"krotos embed: warning: {warning}", file=sys.stderr)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    shards = [s["path"] for s in read_manifest(manifest or _configured_manifest())["shards"]]
    result = embed_tracks(model, shards, os.path.abspath(args.out),
                          max_windows=args.max_windows or None)
    print(f"{result['n_tracks']} tracks embedded in {result['dim']} dimensions by {model} "
          f"({result['n_failed']} without a finite window): {args.out}", file=sys.stderr)
    return 0


def _files(model, params, args):
    from krotos.cli_common import progress_bar
    from krotos.inference import AudioError
    from krotos.model.embed import AudioEmbedder

    try:
        embedder = AudioEmbedder(model, params, max_windows=args.max_windows or None)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot load the tag model {model}: {exc}") from None
    vectors, failed = {}, 0
    for path in progress_bar(args.files, "embedding"):
        try:
            result = embedder.embed(path)
        except AudioError as exc:
            failed += 1
            vectors[path] = None
            print(f"krotos embed: {exc}", file=sys.stderr)
            continue
        vectors[path] = result["vector"]
        if not args.out:
            print(json.dumps({"file": path, "windows": result["windows"],
                              "vector": result["vector"]}), flush=True)
    if args.out:
        _write(args.out, args.files, vectors, embedder.dim, model)
        print(f"{len(args.files) - failed} embeddings ({embedder.dim} dimensions, tag model "
              f"{model}) written to {args.out}", file=sys.stderr)
    if failed:
        print(f"krotos embed: {failed} of {len(args.files)} files failed", file=sys.stderr)
        return 1
    return 0


def _write(out, files, vectors, dim, model):
    import numpy as np

    from krotos.cli_common import write_atomic

    if out.endswith(".h5"):
        from krotos.model.embed import write_embeddings

        ok = [f for f in files if vectors.get(f) is not None]
        write_embeddings(os.path.abspath(out), ok,
                         np.array([vectors[f] for f in ok], dtype=np.float32).reshape(-1, dim),
                         model=model, n_failed=len(files) - len(ok))
        return
    if out.endswith(".npy"):
        matrix = np.full((len(files), dim), np.nan, dtype=np.float32)
        for i, f in enumerate(files):
            if vectors.get(f) is not None:
                matrix[i] = vectors[f]

        def write(tmp):
            with open(tmp, "wb") as fh:
                np.save(fh, matrix)
    else:
        def write(tmp):
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({f: vectors.get(f) for f in files}, fh)
    write_atomic(out, write)
