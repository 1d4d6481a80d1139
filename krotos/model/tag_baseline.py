"""The "bag of frames" tag baseline: logistic regression on per-band clip statistics.

Each clip is summarized by the mean and standard deviation of every mel band
over time (:func:`krotos.coldstart.baseline.clip_statistics`, the features of
the cold-start baseline too); one L2-regularized logistic regression per tag
maps the standardized statistics to the tag. It sees no temporal structure,
so it is the figure the tag CNN has to beat on the same split.

The inverse regularization ``C`` is shared by every tag and chosen on the
validation split's macro ROC-AUC; the test split is never looked at before
the final scoring. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from krotos.coldstart.baseline import clip_statistics
from krotos.model.scores import roc_auc_macro

log = logging.getLogger(__name__)

DEFAULT_CS = (0.01, 0.1, 1.0, 10.0)

#: lbfgs on standardized inputs converges in tens of iterations for the weak
#: regularizations too; the cap only bounds a pathological (separable) tag.
MAX_ITER = 500


def _binary(y):
    """Labels as a boolean ``(n, n_tags)`` matrix (0/1 vectors; > 0.5 is positive)."""
    y = np.asarray(y)
    if y.ndim != 2:
        raise ValueError(f"tag labels must be a (clips, tags) matrix, got shape {y.shape}")
    return y > 0.5


class TagBaseline:
    """A fitted per-tag logistic regression on standardized clip statistics.

    Built by :func:`fit_tag_baseline`.

    Attributes
    ----------
    scaler : sklearn.preprocessing.StandardScaler
        Fitted on the training features.
    models : list of (LogisticRegression or None)
        One per tag; None for a tag scored by a constant.
    constants : np.ndarray float64 (n_tags,)
        Training prevalence of each tag, the score of the tags without a model.
    C_ : float
        The inverse regularization chosen on the validation split.
    valid_scores_ : dict
        ``{C: validation macro ROC-AUC}`` for every candidate ``C``.
    constant_tags_ : list of int
        Tags without both positive and negative training clips.
    """

    def __init__(self, scaler, models, constants, C, valid_scores, constant_tags):
        self.scaler = scaler
        self.models = models
        self.constants = constants
        self.C_ = C
        self.valid_scores_ = valid_scores
        self.constant_tags_ = constant_tags

    @property
    def n_tags(self) -> int:
        """Number of tags (one model per tag)."""
        return len(self.models)

    def predict_scores(self, features: npt.ArrayLike) -> np.ndarray:
        """Tag probabilities of clips.

        Parameters
        ----------
        features : array-like (n, n_features)
            Clip statistics, as :func:`krotos.coldstart.baseline.clip_statistics` gives.

        Returns
        -------
        np.ndarray float64 (n, n_tags)
        """
        x = self.scaler.transform(np.asarray(features, dtype=np.float64))
        return _scores(self.models, self.constants, x)


def _scores(models, constants, x):
    out = np.empty((x.shape[0], len(models)), dtype=np.float64)
    for j, model in enumerate(models):
        out[:, j] = constants[j] if model is None else model.predict_proba(x)[:, 1]
    return out


def fit_tag_baseline(train_features: npt.ArrayLike, train_y: npt.ArrayLike,
                     valid_features: npt.ArrayLike, valid_y: npt.ArrayLike,
                     Cs: Sequence[float] = DEFAULT_CS, seed: int = 0) -> TagBaseline:
    """Fit one logistic regression per tag, ``C`` chosen on the validation macro ROC-AUC.

    Parameters
    ----------
    train_features, valid_features : array-like (n, n_features)
        Clip statistics of the training and validation clips.
    train_y, valid_y : array-like (n, n_tags)
        0/1 tag vectors.
    Cs : sequence of float
        Candidate inverse regularizations (shared by every tag).
    seed : int
        ``random_state`` of the regressions (lbfgs itself draws nothing).

    Returns
    -------
    TagBaseline
        ``predict_scores(features)``, ``C_`` and ``valid_scores_``.

    Raises
    ------
    ValueError
        No training or validation clip, shapes that disagree, or no tag with
        both positive and negative validation clips (``C`` cannot be chosen).

    Notes
    -----
    A tag without a positive (or without a negative) training clip cannot be
    learned and scores its training prevalence (0 or 1) on every clip. Ties
    between candidates go to the smallest ``C`` (the strongest regularization).
    """
    train_x = np.asarray(train_features, dtype=np.float64)
    valid_x = np.asarray(valid_features, dtype=np.float64)
    train_y, valid_y = _binary(train_y), _binary(valid_y)
    if len(train_x) == 0 or len(valid_x) == 0:
        raise ValueError(f"the tag baseline needs training and validation clips "
                         f"(got {len(train_x)} and {len(valid_x)})")
    if train_x.shape[0] != train_y.shape[0] or valid_x.shape[0] != valid_y.shape[0]:
        raise ValueError(f"features and labels disagree: {train_x.shape} / {train_y.shape} "
                         f"(train), {valid_x.shape} / {valid_y.shape} (valid)")
    if train_x.shape[1] != valid_x.shape[1] or train_y.shape[1] != valid_y.shape[1]:
        raise ValueError(f"train and valid disagree: features {train_x.shape[1]} vs "
                         f"{valid_x.shape[1]}, tags {train_y.shape[1]} vs {valid_y.shape[1]}")
    Cs = sorted(float(c) for c in Cs)
    if not Cs or min(Cs) <= 0:
        raise ValueError(f"Cs must be positive numbers, got {Cs}")
    valid_pos = valid_y.sum(axis=0)
    if not np.any((valid_pos > 0) & (valid_pos < len(valid_y))):
        raise ValueError("no tag has both positive and negative validation clips: "
                         "the regularization cannot be chosen")

    scaler = StandardScaler().fit(train_x)
    train_x, valid_x = scaler.transform(train_x), scaler.transform(valid_x)
    n_tags = train_y.shape[1]
    constants = train_y.mean(axis=0).astype(np.float64)
    pos = train_y.sum(axis=0)
    constant_tags = [j for j in range(n_tags) if pos[j] == 0 or pos[j] == len(train_y)]
    if constant_tags:
        log.warning("%d tags have no positive or no negative training clip and get a "
                    "constant score: %s", len(constant_tags), constant_tags[:10])
    # One estimator per tag, refitted along the increasing Cs with warm starts:
    # each fit begins at the previous (more regularized) optimum, which is close,
    # so the path costs little more than a single fit. The problem is strictly
    # convex, so the warm start changes the iterations, not the solution.
    models = [None if j in constant_tags else
              LogisticRegression(C=Cs[0], solver="lbfgs", max_iter=MAX_ITER, warm_start=True,
                                 random_state=seed)
              for j in range(n_tags)]
    valid_scores, best = {}, None
    for c in Cs:
        not_converged = []
        for j, model in enumerate(models):
            if model is None:
                continue
            model.set_params(C=c)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                model.fit(train_x, train_y[:, j])
            if any(issubclass(w.category, ConvergenceWarning) for w in caught):
                not_converged.append(j)
        if not_converged:
            log.warning("C=%g: %d tags did not converge in %d iterations: %s", c,
                        len(not_converged), MAX_ITER, not_converged[:10])
        valid_scores[c] = roc_auc_macro(valid_y, _scores(models, constants, valid_x))
        log.info("tag baseline C=%g: validation macro ROC-AUC %.4f", c, valid_scores[c])
        if best is None or valid_scores[c] > valid_scores[best]:
            # The coefficients are copied: later Cs refit the same estimators.
            best = c
            best_params = [None if m is None else (m.coef_.copy(), m.intercept_.copy())
                           for m in models]
    final = []
    for model, params in zip(models, best_params):
        if model is not None:
            model.set_params(C=best, warm_start=False)
            model.coef_, model.intercept_ = params
        final.append(model)
    return TagBaseline(scaler, final, constants, best, valid_scores, constant_tags)


def tag_baseline_scores(shard_paths: Sequence[str], splits: dict, targets: dict,
                        Cs: Sequence[float] = DEFAULT_CS,
                        seed: int = 0) -> tuple[list[str], np.ndarray, dict]:
    """Fit the baseline on the train split, choose ``C`` on valid, score the test split.

    Parameters
    ----------
    shard_paths : sequence of str
        Spectrogram shards (:mod:`krotos.shards`) holding the splits' tracks.
    splits : dict
        ``{"train": [track_id, ...], "valid": [...], "test": [...]}``, the tag
        CNN's split.
    targets : dict
        ``track_id -> 0/1 tag vector``.
    Cs : sequence of float
    seed : int
        See :func:`fit_tag_baseline`.

    Returns
    -------
    test_ids : list of str
        Test tracks with a spectrogram and a tag vector, in split order.
    scores : np.ndarray float64 (len(test_ids), n_tags)
    info : dict
        ``C``, ``valid_roc_auc_by_C``, ``n_train``, ``n_valid``, ``n_test`` and
        ``constant_tags`` (indices of the tags scored by a constant).

    Notes
    -----
    Tracks without a (finite) spectrogram or without a tag vector are skipped;
    a track is read once whatever the number of splits naming it.
    """
    wanted = {name: [t for t in dict.fromkeys(splits.get(name) or []) if t in targets]
              for name in ("train", "valid", "test")}
    ids, features = clip_statistics(shard_paths, set().union(*wanted.values()))
    row = {}
    for r, tid in enumerate(ids):
        row.setdefault(tid, r)  # a track duplicated across shards: the first copy
    found = {name: [t for t in tracks if t in row] for name, tracks in wanted.items()}

    def part(name):
        rows = [row[t] for t in found[name]]
        y = np.stack([np.asarray(targets[t], dtype=np.float64).reshape(-1)
                      for t in found[name]]) if rows else None
        return features[rows], y

    (train_x, train_y), (valid_x, valid_y) = part("train"), part("valid")
    if train_y is None or valid_y is None:
        raise ValueError(f"the tag baseline needs training and validation tracks with a "
                         f"spectrogram and a tag vector (found {len(found['train'])} and "
                         f"{len(found['valid'])})")
    model = fit_tag_baseline(train_x, train_y, valid_x, valid_y, Cs=Cs, seed=seed)
    test_x, _ = part("test")
    scores = model.predict_scores(test_x) if len(test_x) else np.zeros((0, model.n_tags))
    info = {"C": model.C_, "valid_roc_auc_by_C": dict(model.valid_scores_),
            "n_train": len(found["train"]), "n_valid": len(found["valid"]),
            "n_test": len(found["test"]), "constant_tags": list(model.constant_tags_)}
    return found["test"], scores, info
