"""``krotos recommend --user USER_ID``: cold-start songs for a known user."""

from __future__ import annotations

import argparse
import json

from krotos.commands import CommandError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the command's arguments on ``subparsers``."""
    p = subparsers.add_parser(
        "recommend", help="cold-start songs for a user of the play matrix",
        description="Rank the cold-start songs (no play of theirs was seen by the "
                    "factorization) for a user of the play matrix by x_u . y_i, with y_i the "
                    "factors the CNN predicts from the song's audio.")
    p.add_argument("--user", required=True, metavar="USER_ID", help="a Taste Profile user id")
    p.add_argument("--top", type=int, default=10, metavar="N", help="songs listed (10)")
    p.add_argument("--json", action="store_true", help="print JSON")
    from krotos.cli_common import add_model_arguments

    add_model_arguments(p)
    p.set_defaults(func=run)


def recommend_cold(user_id: str, plays_path: str, factors_path: str, predicted_path: str,
                   top: int = 10) -> list[tuple[str, float]]:
    """Top cold-start songs for one user.

    Returns
    -------
    list of (track_id, score)

    Raises
    ------
    KeyError
        Unknown user (the message names the file).
    ValueError
        No cold-start song has predicted factors.
    """
    import numpy as np

    from krotos.cf.als import read_factors
    from krotos.cf.playmatrix import read_play_split
    from krotos.coldstart.vectors import read_latents

    split = read_play_split(plays_path)
    fit = read_factors(factors_path)
    rows = np.flatnonzero(np.asarray(fit["user_ids"]) == user_id)
    if len(rows) == 0:
        raise KeyError(f"user {user_id!r} is not in {factors_path} (users of the play matrix "
                       f"look like {str(fit['user_ids'][0]) if len(fit['user_ids']) else '-'})")
    user = fit["user_factors"][rows[0]]
    pred_ids, pred = read_latents(predicted_path)
    pred_row = {t: i for i, t in enumerate(pred_ids)}
    cold_tracks = [t for t in split.track_ids[split.cold_song_index] if t in pred_row]
    if not cold_tracks:
        raise ValueError(f"no cold-start song of {plays_path} has predicted factors in "
                         f"{predicted_path}")
    scores = pred[[pred_row[t] for t in cold_tracks]] @ user
    order = np.argsort(-scores, kind="stable")[:int(top)]
    return [(str(cold_tracks[i]), float(scores[i])) for i in order]


def run(args: argparse.Namespace) -> int:
    """Run the command with the parsed ``args``; the exit status."""
    from krotos.cli_common import model_files
    from krotos.locate import track_metadata

    if args.top < 1:
        raise CommandError("--top must be >= 1")
    files = model_files(args, need_plays=True)
    try:
        top = recommend_cold(args.user, files.plays, files.factors, files.predicted_factors,
                             args.top)
    except KeyError as exc:
        raise CommandError(exc.args[0]) from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    names = track_metadata(files, [t for t, _ in top])
    rows = [{"rank": r + 1, "track_id": t, "score": round(s, 4), "song": names.get(t, "")}
            for r, (t, s) in enumerate(top)]
    if args.json:
        print(json.dumps({"user": args.user, "recommendations": rows}))
    else:
        print(f"cold-start songs for user {args.user}:")
        for row in rows:
            print(f"{row['rank']:4d}  {row['score']:8.4f}  {row['track_id']}  {row['song']}")
    return 0
