"""Find a trained model's files from its folder.

:func:`from_dir` takes a ``FinetuneModel`` output folder; the other folders
are those named in its ``params.json`` (the signatures of the inputs it was
trained on), in the same data root. This keeps a model and its extraction
parameters together even after luigi.cfg has changed. The model of the
current configuration is found by the command layer
(:func:`krotos.cli_common.configured_model`), which knows the pipeline: this
library never imports it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable

RUN_FIRST = "run `luigi --module pipeline FinetuneLatents` first"


class ModelNotFound(LookupError):
    """No trained model where one was looked for; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class ModelFiles:
    """The folders of a trained model and of its inputs.

    Attributes
    ----------
    latent_dir : str
        ``FinetuneModel`` output (``model.keras``, ``predicted_factors.h5``).
    tag_dir : str
        ``TrainTagModel`` output (``model.keras``, ``vocabulary.json``).
    manifest : str
        ``SpectrogramIndex``'s ``manifest.json`` (extraction parameters).
    plays, factors, tagdb : str or None
        ``plays.h5``, ``factors.h5`` (fitted without the cold songs) and
        ``tags.sqlite``, when known.
    """

    latent_dir: str
    tag_dir: str
    manifest: str
    plays: str = None
    factors: str = None
    tagdb: str = None

    @property
    def latent_model(self) -> str:
        """The fine-tuned (latent-factor) model file."""
        return os.path.join(self.latent_dir, "model.keras")

    @property
    def predicted_factors(self) -> str:
        """The predicted factors of the catalogue, from the fine-tuned model."""
        return os.path.join(self.latent_dir, "predicted_factors.h5")

    @property
    def tag_model(self) -> str:
        """The tag model file."""
        return os.path.join(self.tag_dir, "model.keras")

    @property
    def vocabulary(self) -> str:
        """The tag model's ``vocabulary.json``."""
        return os.path.join(self.tag_dir, "vocabulary.json")

    def check(self, need_catalogue: bool = False, need_plays: bool = False) -> ModelFiles:
        """Raise :class:`ModelNotFound` naming the first missing file.

        ``need_catalogue``: the catalogue's predicted factors too;
        ``need_plays``: the play matrix and its factors too.
        """
        needed = [self.latent_model, self.tag_model, self.vocabulary, self.manifest]
        if need_catalogue or need_plays:
            needed.append(self.predicted_factors)
        if need_plays:
            needed += [self.plays, self.factors]
        for path in needed:
            if not path or not os.path.isfile(path):
                raise ModelNotFound(f"{path or 'the play matrix'} does not exist: {RUN_FIRST} "
                                    f"(or give --model DIR, a FinetuneModel output folder)")
        return self


def _family(task_id):
    return task_id.split("_", 1)[0]


def from_dir(path: str) -> ModelFiles:
    """The model in a ``FinetuneModel`` output folder, and its inputs.

    Raises
    ------
    ModelNotFound
        When ``path`` is not such a folder or an input folder is gone.
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    params_path = os.path.join(path, "params.json")
    if not os.path.isfile(os.path.join(path, "model.keras")) or not os.path.isfile(params_path):
        raise ModelNotFound(f"{path} is not a FinetuneModel output folder (it needs "
                            f"model.keras and params.json)")
    with open(params_path, encoding="utf-8") as f:
        try:
            upstream = json.load(f).get("upstream", {})
        except json.JSONDecodeError as exc:
            raise ModelNotFound(f"{params_path}: line {exc.lineno}: not valid JSON") from None
    root = os.path.dirname(os.path.dirname(path))
    folders = {}
    for task_id, signature in upstream.items():
        folders.setdefault(_family(task_id), os.path.join(root, _family(task_id), signature))
    if "TrainTagModel" not in folders:
        raise ModelNotFound(f"{params_path} names no TrainTagModel input")
    index = next((f for f in ("SpectrogramIndex", "EchonestIndex") if f in folders), None)
    if index is None:
        raise ModelNotFound(f"{params_path} names no SpectrogramIndex or EchonestIndex input")

    def optional(family, name):
        return os.path.join(folders[family], name) if family in folders else None

    return ModelFiles(
        latent_dir=path, tag_dir=folders["TrainTagModel"],
        manifest=os.path.join(folders[index], "manifest.json"),
        plays=optional("PlayMatrix", "plays.h5"), factors=optional("Factorize", "factors.h5"),
        tagdb=optional("TagDatabase", "tags.sqlite"))


def locate(model_dir: str, need_catalogue: bool = False, need_plays: bool = False) -> ModelFiles:
    """:func:`from_dir`, checked (see :meth:`ModelFiles.check`).

    Raises
    ------
    ModelNotFound
        When ``model_dir`` is empty, not a model folder, or a needed file is missing.
    """
    if not model_dir:
        raise ModelNotFound(f"no model folder given: give a FinetuneModel output folder "
                            f"({RUN_FIRST})")
    files = from_dir(model_dir)
    return files.check(need_catalogue=need_catalogue, need_plays=need_plays)


def track_metadata(files: ModelFiles, track_ids: Iterable[str]) -> dict[str, str]:
    """``{track_id: "artist - title"}`` from the tag database, when it is there."""
    if not files.tagdb or not os.path.isfile(files.tagdb):
        return {}
    from krotos.tagdb import TagDB

    wanted = set(track_ids)
    with TagDB(files.tagdb) as db:
        return {t.track_id: f"{t.artist} - {t.title}" for t in db.tracks()
                if t.track_id in wanted}
