"""Find the trained models and the files that go with them.

Two ways:

* :func:`from_config`: the outputs of the current configuration (luigi.cfg and
  ``[krotos] data_root``): ``FinetuneLatents``, ``TrainTagModel``,
  ``SpectrogramIndex``, ``PlayMatrix``, ``Factorize(include_cold=False)`` and
  ``TagDatabase``, located by their signatures exactly as Luigi would;
* :func:`from_dir`: a given ``FinetuneLatents`` output folder; the other
  folders are those named in its ``params.json`` (the signatures of the
  inputs it was trained on), in the same data root. This keeps a model and its
  extraction parameters together even after luigi.cfg has changed.
"""

import dataclasses
import json
import os

RUN_FIRST = "run `luigi --module pipeline FinetuneLatents` first"


class ModelNotFound(LookupError):
    """No trained model where one was looked for; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class ModelFiles:
    """The folders of a trained model and of its inputs.

    Attributes
    ----------
    latent_dir : str
        ``FinetuneLatents`` output (``model.keras``, ``predicted_factors.h5``).
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
    def latent_model(self):
        return os.path.join(self.latent_dir, "model.keras")

    @property
    def predicted_factors(self):
        return os.path.join(self.latent_dir, "predicted_factors.h5")

    @property
    def tag_model(self):
        return os.path.join(self.tag_dir, "model.keras")

    @property
    def vocabulary(self):
        return os.path.join(self.tag_dir, "vocabulary.json")

    def check(self, need_catalogue=False, need_plays=False):
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
                                    f"(or give --model DIR, a FinetuneLatents output folder)")
        return self


def from_config():
    """The model of the current configuration.

    Raises
    ------
    ModelNotFound
        When ``FinetuneLatents`` has not been run with these settings.
    """
    import pipeline
    from pipeline.echonest import feature_index_task

    latent = pipeline.FinetuneLatents()
    if not os.path.isdir(latent.output_dir):
        raise ModelNotFound(f"no trained model for the current configuration (looked for "
                            f"{latent.output_dir}): {RUN_FIRST}, or give --model DIR")
    return ModelFiles(
        latent_dir=latent.output_dir,
        tag_dir=pipeline.TrainTagModel().output_dir,
        manifest=feature_index_task().file("manifest.json"),
        plays=pipeline.PlayMatrix().file("plays.h5"),
        factors=pipeline.Factorize(include_cold=False).file("factors.h5"),
        tagdb=pipeline.TagDatabase().file("tags.sqlite"))


def _family(task_id):
    return task_id.split("_", 1)[0]


def from_dir(path):
    """The model in a ``FinetuneLatents`` output folder, and its inputs.

    Raises
    ------
    ModelNotFound
        When ``path`` is not such a folder or an input folder is gone.
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    params_path = os.path.join(path, "params.json")
    if not os.path.isfile(os.path.join(path, "model.keras")) or not os.path.isfile(params_path):
        raise ModelNotFound(f"{path} is not a FinetuneLatents output folder (it needs "
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


def locate(model_dir=None, need_catalogue=False, need_plays=False):
    """:func:`from_dir` when ``model_dir`` is given, else :func:`from_config`; checked."""
    files = from_dir(model_dir) if model_dir else from_config()
    return files.check(need_catalogue=need_catalogue, need_plays=need_plays)


def track_metadata(files, track_ids):
    """``{track_id: "artist - title"}`` from the tag database, when it is there."""
    if not files.tagdb or not os.path.isfile(files.tagdb):
        return {}
    from krotos.tagdb import TagDB

    wanted = set(track_ids)
    with TagDB(files.tagdb) as db:
        return {t.track_id: f"{t.artist} - {t.title}" for t in db.tracks()
                if t.track_id in wanted}
