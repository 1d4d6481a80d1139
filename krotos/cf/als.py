"""Weighted matrix factorization of implicit feedback, solved by ``implicit``'s ALS.

The project owns the data preparation (confidence weighting, dropping users
and songs without plays), the id mapping and the output file; the
alternating least squares themselves are ``implicit``'s (CPU, or its CUDA
build where one is installed).

Orientation: ``implicit`` 0.7 takes a **users x items** CSR matrix in
``fit`` and then has ``user_factors`` of shape ``(n_users, f)`` and
``item_factors`` of shape ``(n_items, f)``; our play matrices are users x
songs, so rows and columns pass through unchanged (tested).

Factor files and the cold-start protocol
----------------------------------------
``Factorize`` fits on the training and validation plays of a
:class:`~krotos.cf.playmatrix.PlaySplit` (``fit_plays``).
Cold songs have no such plays, so their rows of ``song_factors`` are zero
and ``song_trained`` is False for them. Two ways to get "true" factors of the
cold songs for the upper bound of the cold-start evaluation:

* ``cold_song_factors_foldin`` (written when ``include_cold`` is False): each
  cold song's factor solved by one ALS half-step from its held-out plays with
  the user factors held fixed. It lives in the *same* factor space as the
  users and as the warm songs the audio model is trained on, so it is the
  upper bound to compare predicted factors against.
* ``include_cold=True``: the factorization also sees the cold songs' plays
  (training plays + every held-out play of a cold song; warm held-out plays
  stay out). Its song and user factors form another, self-consistent model
  in which the cold songs are ordinary songs.

Both have seen the plays they are then evaluated on, which is what makes
them upper bounds.
"""

from __future__ import annotations

import json
import os
import time

import h5py
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from krotos.cf.confidence import confidence_matrix
from krotos.cf.params import ALSParams
from krotos.cf.playmatrix import atomic_h5, read_play_split, read_strings, write_strings
from krotos.progress import Progress, no_progress

FORMAT_VERSION = 1


def _gpu_available():
    try:
        import implicit.gpu
        return bool(implicit.gpu.HAS_CUDA)
    except ImportError:
        return False


def fit_als(plays: sp.spmatrix, params: ALSParams, *, use_cg: bool = True,
            progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Factorize a users x songs play-count matrix with weighted ALS.

    Parameters
    ----------
    plays : scipy.sparse matrix
        ``(n_users, n_songs)`` play counts (users are rows).
    params : krotos.cf.params.ALSParams
        ``factors`` (dimension of the latent factors), ``regularization`` (L2
        weight ``lambda`` on every factor), ``iterations`` (ALS sweeps, users
        then songs), ``alpha``, ``epsilon`` and ``confidence`` (the confidence
        weighting, see :mod:`krotos.cf.confidence`), ``seed`` (of the random
        initial factors), ``num_threads`` (CPU threads for ``implicit``, 0:
        all cores) and ``use_gpu`` (``None``: ``implicit``'s CUDA build when
        it is installed).
    use_cg : bool
        Conjugate-gradient solver (fast) instead of exact Cholesky (CPU only).
    progress : callable, optional
        ``progress(fraction, message)`` after every iteration.

    Returns
    -------
    user_factors : numpy.ndarray
        ``(n_users, factors)`` float32; zero rows for users without plays.
    song_factors : numpy.ndarray
        ``(n_songs, factors)`` float32; zero rows for songs without plays.
    info : dict
        ``seconds_per_iteration`` (list), ``solver`` ('implicit-cpu' or
        'implicit-gpu'), ``implicit_version``.
    """
    import implicit
    import implicit.cpu.als
    import threadpoolctl

    factors, regularization, iterations = params.factors, params.regularization, params.iterations
    seed, num_threads = params.seed, params.num_threads
    progress = progress or no_progress
    plays = sp.csr_matrix(plays)
    n_users, n_songs = plays.shape
    conf = confidence_matrix(plays, params.confidence, params.alpha, params.epsilon)
    # Users and songs without plays would only get factors pulled towards 0
    # by the regularization; fit without them and give them exact zeros.
    users = np.flatnonzero(np.diff(conf.indptr) > 0)
    songs = np.flatnonzero(np.bincount(conf.indices, minlength=n_songs) > 0)
    if len(users) < n_users:
        conf = conf[users]
    if len(songs) < n_songs:
        conf = conf[:, songs]
    conf = conf.tocsr()
    conf.sort_indices()

    use_gpu = _gpu_available() if params.use_gpu is None else params.use_gpu
    seconds = []

    def callback(iteration, elapsed, loss):
        seconds.append(float(elapsed))
        progress((iteration + 1) / iterations,
                 f"ALS iteration {iteration + 1}/{iterations} ({elapsed:.2f} s)")

    user_factors = np.zeros((n_users, factors), dtype=np.float32)
    song_factors = np.zeros((n_songs, factors), dtype=np.float32)
    if conf.nnz:
        # implicit runs its own thread pool; a multi-threaded BLAS inside it
        # oversubscribes the cores and is many times slower.
        with threadpoolctl.threadpool_limits(1, "blas"):
            if use_gpu:
                import implicit.gpu.als
                model = implicit.gpu.als.AlternatingLeastSquares(
                    factors=factors, regularization=regularization, alpha=1.0,
                    iterations=iterations, random_state=seed)
            else:
                model = implicit.cpu.als.AlternatingLeastSquares(
                    factors=factors, regularization=regularization, alpha=1.0,
                    iterations=iterations, use_cg=use_cg, num_threads=num_threads,
                    random_state=seed)
            model.fit(conf, show_progress=False, callback=callback)
            if use_gpu:
                model = model.to_cpu()
        user_factors[users] = model.user_factors
        song_factors[songs] = model.item_factors
    info = dict(seconds_per_iteration=seconds, solver="implicit-gpu" if use_gpu else "implicit-cpu",
                implicit_version=implicit.__version__)
    return user_factors, song_factors, info


def fold_in_songs(user_factors: np.ndarray, song_plays: sp.spmatrix, params: ALSParams) -> np.ndarray:
    """Solve song factors from their plays with the user factors held fixed.

    One exact ALS half-step: for song ``i``,
    ``y_i = (X^T C_i X + lambda I)^-1 X^T C_i p_i``.

    Parameters
    ----------
    user_factors : numpy.ndarray
        ``(n_users, f)``.
    song_plays : scipy.sparse matrix
        ``(n_users, n_songs)`` play counts of the songs to place.
    params : krotos.cf.params.ALSParams
        Those of the factorization that produced ``user_factors`` (its
        ``regularization``, ``alpha``, ``epsilon``, ``confidence``; and
        ``num_threads``).

    Returns
    -------
    numpy.ndarray
        ``(n_songs, f)`` float32.
    """
    import implicit.cpu.als
    import threadpoolctl

    user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
    song_users = confidence_matrix(sp.csr_matrix(song_plays).T, params.confidence, params.alpha,
                                   params.epsilon)
    with threadpoolctl.threadpool_limits(1, "blas"):
        model = implicit.cpu.als.AlternatingLeastSquares(
            factors=user_factors.shape[1], regularization=float(params.regularization),
            alpha=1.0, num_threads=params.num_threads)
        model.user_factors = user_factors
        if song_users.shape[0] == 0:
            return np.zeros((0, user_factors.shape[1]), dtype=np.float32)
        return np.asarray(model.recalculate_item(np.arange(song_users.shape[0]), song_users),
                          dtype=np.float32).reshape(song_users.shape[0], -1)


def factorize_play_split(split_path: str | os.PathLike, out_path: str | os.PathLike, params: ALSParams,
                         *, include_cold: bool = False, progress: Progress | None = None) -> dict:
    """Factorize the training and validation plays of a play-split file into ``factors.h5``.

    The validation plays chose the hyperparameters (:func:`krotos.cf.tune.tune_als`);
    the final factors then fit them too. The test plays stay out.

    Parameters
    ----------
    split_path : str
        File written by :func:`krotos.cf.playmatrix.write_play_split`.
    out_path : str
        The factor file to write (atomically); layout in :func:`write_factors`.
    params : krotos.cf.params.ALSParams
        The factorization (see :func:`fit_als`).
    include_cold : bool
        Also fit on every held-out play of the cold songs (see the module
        notes); otherwise cold songs get fold-in factors instead.
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    dict
        Summary: shapes, seconds per iteration, solver.
    """
    progress = progress or no_progress
    split = read_play_split(split_path)
    plays = split.fit_plays
    if include_cold:
        cold_mask = np.zeros(plays.shape[1], dtype=bool)
        cold_mask[split.cold_song_index] = True
        cold_plays = split.heldout.multiply(cold_mask[np.newaxis, :].astype(np.int32)).tocsr()
        plays = (plays + cold_plays).tocsr()
        plays.eliminate_zeros()
    hyper = params.hyperparameters()
    seed = int(params.seed)
    start = time.time()
    user_factors, song_factors, info = fit_als(plays, params,
                                               progress=lambda f, m: progress(0.95 * f, m))
    fit_seconds = time.time() - start
    foldin = None
    if not include_cold:
        foldin = fold_in_songs(user_factors, split.heldout[:, split.cold_song_index], params)
    song_trained = np.bincount(plays.indices, minlength=plays.shape[1]) > 0
    user_trained = np.diff(plays.indptr) > 0
    attrs = dict(hyper, seed=seed, include_cold=bool(include_cold), fit_seconds=fit_seconds, **info)
    write_factors(out_path, user_factors, song_factors, split.user_ids, split.song_ids,
                  split.track_ids, split.cold_song_index, user_trained, song_trained, attrs,
                  cold_song_factors_foldin=foldin)
    progress(1.0, f"factorized {plays.shape[0]:,} users x {plays.shape[1]:,} songs")
    return dict(attrs, users=int(plays.shape[0]), songs=int(plays.shape[1]),
                nonzeros=int(plays.nnz), users_without_plays=int((~user_trained).sum()),
                songs_without_plays=int((~song_trained).sum()))


def write_factors(path: str | os.PathLike, user_factors: np.ndarray, song_factors: np.ndarray,
                  user_ids: npt.ArrayLike, song_ids: npt.ArrayLike, track_ids: npt.ArrayLike,
                  cold_song_index: npt.ArrayLike, user_trained: npt.ArrayLike,
                  song_trained: npt.ArrayLike, attrs: dict,
                  cold_song_factors_foldin: np.ndarray | None = None) -> None:
    """Write a factor file atomically.

    Layout::

        /user_factors    (n_users, f) float32, rows in user_ids order
        /song_factors    (n_songs, f) float32, rows in song_ids order
        /user_ids, /song_ids, /track_ids      str (track_ids[j] belongs to song_ids[j])
        /user_trained, /song_trained          bool: had plays in the fitted matrix
        /cold_song_index (n_cold,) int64 rows of the cold-start songs; /cold_songs their ids
        /cold_song_factors_foldin (n_cold, f) fold-in factors (only without include_cold)
        attrs            factors, regularization, iterations, alpha, epsilon,
                         confidence, seed, include_cold, solver, ... and format_version
    """
    with atomic_h5(path) as h5:
        h5.create_dataset("user_factors", data=np.asarray(user_factors, dtype=np.float32))
        h5.create_dataset("song_factors", data=np.asarray(song_factors, dtype=np.float32))
        write_strings(h5, "user_ids", user_ids)
        write_strings(h5, "song_ids", song_ids)
        write_strings(h5, "track_ids", track_ids)
        h5.create_dataset("user_trained", data=np.asarray(user_trained, dtype=bool))
        h5.create_dataset("song_trained", data=np.asarray(song_trained, dtype=bool))
        cold = np.asarray(cold_song_index, dtype=np.int64)
        h5.create_dataset("cold_song_index", data=cold)
        write_strings(h5, "cold_songs", np.asarray(song_ids)[cold])
        if cold_song_factors_foldin is not None:
            h5.create_dataset("cold_song_factors_foldin",
                              data=np.asarray(cold_song_factors_foldin, dtype=np.float32))
        for key, value in attrs.items():
            h5.attrs[key] = json.dumps(value) if isinstance(value, (list, dict)) else value
        h5.attrs["format_version"] = FORMAT_VERSION


def read_factors(path: str | os.PathLike) -> dict:
    """Read a factor file into a dict of arrays, with ``attrs`` a dict.

    Returns
    -------
    dict
        Keys as in :func:`write_factors` (``cold_song_factors_foldin`` only when
        stored), string ids as numpy str arrays.
    """
    out = {}
    with h5py.File(path, "r") as h5:
        for name in h5:
            if h5[name].dtype.kind == "O":
                out[name] = read_strings(h5, name)
            else:
                out[name] = h5[name][()]
        out["attrs"] = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in h5.attrs.items()}
    return out
