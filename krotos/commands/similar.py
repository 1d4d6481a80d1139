"""``krotos similar FILE``: catalogue songs whose predicted factors are closest."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING
import json

from krotos.commands import CommandError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the command's arguments on ``subparsers``."""
    p = subparsers.add_parser(
        "similar", help="catalogue songs closest to an audio file",
        description="Embed FILE and list the catalogue songs (every song with a "
                    "spectrogram, cold-start ones included) whose predicted latent factors "
                    "are closest by cosine similarity.")
    p.add_argument("file", metavar="FILE", help="an audio file")
    p.add_argument("--top", type=int, default=10, metavar="N", help="songs listed (10)")
    p.add_argument("--json", action="store_true", help="print JSON")
    from krotos.cli_common import add_model_arguments

    add_model_arguments(p)
    p.set_defaults(func=run)


def nearest(query: npt.ArrayLike, catalogue: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of the ``top`` rows of ``catalogue`` closest to ``query``."""
    import numpy as np

    from krotos.coldstart.vectors import unit_normalize

    sims = unit_normalize(catalogue) @ unit_normalize(np.asarray(query)[None, :])[0]
    top = min(int(top), len(sims))
    order = np.argpartition(-sims, top - 1)[:top] if top else np.zeros(0, dtype=int)
    order = order[np.argsort(-sims[order], kind="stable")]
    return order, sims[order]


def run(args: argparse.Namespace) -> int:
    """Run the command with the parsed ``args``; the exit status."""
    from krotos.cli_common import load_embedder, model_files
    from krotos.coldstart.vectors import read_latents
    from krotos.inference import AudioError
    from krotos.locate import track_metadata

    if args.top < 1:
        raise CommandError("--top must be >= 1")
    files = model_files(args, need_catalogue=True)
    track_ids, factors = read_latents(files.predicted_factors)
    if len(track_ids) == 0:
        raise CommandError(f"{files.predicted_factors} holds no song")
    embedder = load_embedder(args, files)
    try:
        result = embedder.embed(args.file)
    except AudioError as exc:
        raise CommandError(str(exc)) from None
    if factors.shape[1] != len(result["vector"]):
        raise CommandError(f"{files.predicted_factors} has {factors.shape[1]} factors, the "
                           f"model predicts {len(result['vector'])}")
    order, sims = nearest(result["vector"], factors, args.top)
    names = track_metadata(files, [track_ids[i] for i in order])
    rows = [{"rank": r + 1, "track_id": track_ids[i], "similarity": round(float(s), 4),
             "song": names.get(track_ids[i], "")} for r, (i, s) in enumerate(zip(order, sims))]
    if args.json:
        print(json.dumps({"file": args.file, "similar": rows}))
    else:
        print(f"songs closest to {args.file}:")
        for row in rows:
            print(f"{row['rank']:4d}  {row['similarity']:7.4f}  {row['track_id']}  {row['song']}")
    return 0
