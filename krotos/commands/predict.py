"""``krotos predict FILE...``: top tags of audio files, and their latent vectors."""

from __future__ import annotations

import argparse
import json
import os
import sys

from krotos.commands import CommandError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the command's arguments on ``subparsers``."""
    p = subparsers.add_parser(
        "predict", help="tags and latent vector of audio files",
        description="Predict the tags and the latent factors of audio files (any format "
                    "soundfile or audioread reads, at least one model window long).")
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files")
    p.add_argument("--top", type=int, default=5, metavar="N", help="tags shown per file (5)")
    p.add_argument("--vectors", metavar="OUT",
                   help="write the latent vectors: OUT.json ({file: vector or null}) or "
                        "OUT.npy ((n_files, n_factors) float32 in argument order, NaN rows "
                        "for files that failed)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per file instead of text")
    p.add_argument("--max-windows", type=int, default=0, metavar="N",
                   help="model windows averaged per file, evenly spaced (0: all)")
    from krotos.cli_common import add_model_arguments

    add_model_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the command with the parsed ``args``; the exit status."""
    from krotos.cli_common import load_embedder, model_files, progress_bar
    from krotos.inference import AudioError

    if args.top < 0:
        raise CommandError("--top must be >= 0")
    if args.vectors and not args.vectors.endswith((".json", ".npy")):
        raise CommandError(f"--vectors {args.vectors}: the name must end in .json or .npy")
    files = model_files(args)
    embedder = load_embedder(args, files, max_windows=args.max_windows or None)
    from krotos.model.train import describe_tag_model, tag_model_line

    # Which model produced the tags: said once, before the results (here,
    # for the person at the terminal, by its full path).
    args.tag_model = dict(describe_tag_model(files.tag_dir), path=os.path.abspath(files.tag_dir))
    if not args.json:
        print(f"tags by the tag model {tag_model_line(args.tag_model)}", flush=True)
    results, failed = {}, 0
    for path in progress_bar(args.files, "predicting"):
        try:
            result = embedder.embed(path)
        except AudioError as exc:
            failed += 1
            results[path] = None
            print(f"krotos predict: {exc}", file=sys.stderr)
            if args.json:
                print(json.dumps({"file": path, "error": {"code": exc.code,
                                                          "message": str(exc)}}), flush=True)
            continue
        results[path] = result
        _print(path, result, args)
    if args.vectors:
        _write_vectors(args.vectors, args.files, results, embedder.n_factors)
    if failed:
        print(f"krotos predict: {failed} of {len(args.files)} files failed", file=sys.stderr)
        return 1
    return 0


def _print(path, result, args):
    top = dict(list(result["tags"].items())[:args.top])
    if args.json:
        print(json.dumps({"file": path, "duration": result["duration"],
                          "windows": result["windows"], "tags": top,
                          "vector": result["vector"], "tag_model": args.tag_model}), flush=True)
        return
    print(f"{path}  ({result['duration']:.1f} s, {result['windows']} windows)")
    for tag, p in top.items():
        print(f"  {p:6.3f}  {tag}")
    sys.stdout.flush()


def _write_vectors(out, files, results, n_factors):
    import numpy as np

    from krotos.cli_common import write_atomic

    if out.endswith(".npy"):
        matrix = np.full((len(files), n_factors), np.nan, dtype=np.float32)
        for i, path in enumerate(files):
            if results.get(path):
                matrix[i] = results[path]["vector"]

        def write(tmp):
            with open(tmp, "wb") as f:
                np.save(f, matrix)
    else:
        payload = {path: (results[path]["vector"] if results.get(path) else None)
                   for path in files}

        def write(tmp):
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(payload, f)
    write_atomic(out, write)
    print(f"vectors written to {out}", file=sys.stderr)
