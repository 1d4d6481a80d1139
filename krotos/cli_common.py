"""What the ``krotos`` subcommands share: finding the model, loading it, printing.

This is the command layer: it may import ``pipeline`` (to find the outputs of
the current configuration, as Luigi would); the library it calls may not.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from krotos.commands import CommandError
from krotos.staging import atomic_path

if TYPE_CHECKING:
    from krotos.inference import Embedder
    from krotos.locate import ModelFiles


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model DIR`` and ``--threads N``."""
    parser.add_argument(
        "--model", metavar="DIR",
        help="a FinetuneModel output folder (default: the model of the current "
             "luigi.cfg and [krotos] data_root)")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="TensorFlow threads (default 0: all cores)")


def configured_model() -> ModelFiles:
    """The :class:`krotos.locate.ModelFiles` of the current configuration.

    The outputs of luigi.cfg and ``[krotos] data_root``: ``FinetuneModel``,
    ``TrainTagModel``, the feature index, ``PlayMatrix``,
    ``Factorize(include_cold=False)`` and ``TagDatabase``, located by their
    signatures exactly as Luigi would.

    Raises
    ------
    krotos.locate.ModelNotFound
        When ``FinetuneModel`` has not been run with these settings.
    """
    import pipeline
    from krotos.locate import RUN_FIRST, ModelFiles, ModelNotFound
    from pipeline.features import ShardIndex, feature_index_task

    latent = pipeline.FinetuneModel()
    if not os.path.isdir(latent.output_dir):
        raise ModelNotFound(f"no trained model for the current configuration (looked for "
                            f"{latent.output_dir}): {RUN_FIRST}, or give --model DIR")
    return ModelFiles(
        latent_dir=latent.output_dir,
        tag_dir=pipeline.TrainTagModel().output_dir,
        manifest=feature_index_task().file(ShardIndex.MANIFEST),
        plays=pipeline.PlayMatrix().file(pipeline.PlayMatrix.PLAYS),
        factors=pipeline.Factorize(include_cold=False).file(pipeline.Factorize.FACTORS),
        tagdb=pipeline.TagDatabase().file(pipeline.TagDatabase.DB))


def find_model(model_dir: str | None = None, need_catalogue: bool = False,
               need_plays: bool = False) -> ModelFiles:
    """The model in ``model_dir`` or, without one, :func:`configured_model`; checked.

    Raises
    ------
    krotos.locate.ModelNotFound
        See :func:`krotos.locate.locate` and :meth:`krotos.locate.ModelFiles.check`.
    """
    from krotos.locate import locate

    if model_dir:
        return locate(model_dir, need_catalogue=need_catalogue, need_plays=need_plays)
    return configured_model().check(need_catalogue=need_catalogue, need_plays=need_plays)


def model_files(args: argparse.Namespace, need_catalogue: bool = False,
                need_plays: bool = False) -> ModelFiles:
    """The :class:`krotos.locate.ModelFiles` the arguments select, or a CommandError."""
    from krotos.config import ConfigError
    from krotos.locate import ModelNotFound

    try:
        return find_model(getattr(args, "model", None), need_catalogue=need_catalogue,
                          need_plays=need_plays)
    except (ModelNotFound, ConfigError) as exc:
        raise CommandError(str(exc)) from None


def load_embedder(args: argparse.Namespace, files: ModelFiles, **kwargs: object) -> Embedder:
    """An :class:`krotos.inference.Embedder` for ``files``, threads set first."""
    threads = int(getattr(args, "threads", 0) or 0)
    if threads:
        from krotos.model.train import configure_threads

        configure_threads(threads, min(2, threads))
    from krotos.inference import Embedder

    try:
        return Embedder.from_files(files, **kwargs)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot load the model in {files.latent_dir}: {exc}") from None


def progress_bar(items: Sequence, what: str, minimum: int = 4) -> Iterable:
    """``tqdm`` over ``items`` on stderr when there are at least ``minimum`` and it is a tty."""
    from tqdm import tqdm

    items = list(items)
    return tqdm(items, desc=what, unit="file", file=sys.stderr,
                disable=len(items) < minimum or not sys.stderr.isatty(), leave=False)


def write_atomic(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)`` then rename, so a half-written file never appears."""
    with atomic_path(os.path.abspath(path)) as tmp:
        write(tmp)


def generated_markers(name: str) -> tuple[str, str]:
    """The begin and end markers of a generated block of a Markdown file."""
    return f"<!-- {name}: begin", f"<!-- {name}: end -->"


def replace_generated_block(path: str | os.PathLike, text: str, name: str) -> None:
    """Put ``text`` between the ``<!-- NAME: begin ... -->`` and ``<!-- NAME: end -->``
    markers of a Markdown file (atomically); the rest of the file is kept.

    Raises
    ------
    CommandError
        The file does not exist or lacks the markers.
    """
    begin, end_marker = generated_markers(name)
    try:
        with open(path, encoding="utf-8") as f:
            content = f.read()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    start = content.find(begin)
    end = content.find(end_marker, start) if start >= 0 else -1
    if start < 0 or end < 0:
        raise CommandError(f"{path} has no '{begin} ...' / '{end_marker}' markers: put the "
                           f"pair where the generated text goes")
    start = content.index("\n", start) + 1
    content = content[:start] + text.rstrip("\n") + "\n" + content[end:]

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(content)

    write_atomic(path, write)
