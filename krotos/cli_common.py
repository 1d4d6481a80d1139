"""What the ``krotos`` subcommands share: finding the model, loading it, printing."""

import os
import sys

from krotos.commands import CommandError
from krotos.staging import atomic_path


def add_model_arguments(parser):
    """``--model DIR`` and ``--threads N``."""
    parser.add_argument(
        "--model", metavar="DIR",
        help="a FinetuneLatents output folder (default: the model of the current "
             "luigi.cfg and [krotos] data_root)")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="TensorFlow threads (default 0: all cores)")


def model_files(args, need_catalogue=False, need_plays=False):
    """The :class:`krotos.locate.ModelFiles` the arguments select, or a CommandError."""
    from krotos.config import ConfigError
    from krotos.locate import ModelNotFound, locate

    try:
        return locate(getattr(args, "model", None), need_catalogue=need_catalogue,
                      need_plays=need_plays)
    except (ModelNotFound, ConfigError) as exc:
        raise CommandError(str(exc)) from None


def load_embedder(args, files, **kwargs):
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


def progress_bar(items, what, minimum=4):
    """``tqdm`` over ``items`` on stderr when there are at least ``minimum`` and it is a tty."""
    from tqdm import tqdm

    items = list(items)
    return tqdm(items, desc=what, unit="file", file=sys.stderr,
                disable=len(items) < minimum or not sys.stderr.isatty(), leave=False)


def write_atomic(path, write):
    """Call ``write(tmp_path)`` then rename, so a half-written file never appears."""
    with atomic_path(os.path.abspath(path)) as tmp:
        write(tmp)


def generated_markers(name):
    """The begin and end markers of a generated block of a Markdown file."""
    return f"<!-- {name}: begin", f"<!-- {name}: end -->"


def replace_generated_block(path, text, name):
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
