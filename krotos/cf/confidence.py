"""Confidence weighting of play counts (Hu, Koren & Volinsky 2008).

Preference ``p_ui`` is 1 where user ``u`` played song ``i`` and 0 elsewhere;
the confidence in it grows with the play count ``r_ui``:

* ``log``:    ``c_ui = 1 + alpha * log(1 + r_ui / epsilon)``
* ``linear``: ``c_ui = 1 + alpha * r_ui``

Unplayed pairs have confidence 1. :func:`confidence_matrix` returns the
sparse matrix of ``c_ui`` on the played pairs, which is exactly what the
``implicit`` ALS solver expects (it adds the implicit ``c = 1`` of the zeros
itself), to be used with ``implicit``'s own ``alpha`` left at 1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

SCHEMES = ("log", "linear")


def confidence_values(counts: npt.ArrayLike, scheme: str = "log", alpha: float = 2.0,
                      epsilon: float = 1.0) -> np.ndarray:
    """Confidence of play counts.

    Parameters
    ----------
    counts : array_like
        Positive play counts.
    scheme : {'log', 'linear'}
    alpha : float
        Weight of the plays, > 0.
    epsilon : float
        Scale of the counts in the ``log`` scheme, > 0.

    Returns
    -------
    numpy.ndarray of float32
    """
    counts = np.asarray(counts, dtype=np.float64)
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if scheme == "log":
        if epsilon <= 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon}")
        c = 1.0 + alpha * np.log1p(counts / epsilon)
    elif scheme == "linear":
        c = 1.0 + alpha * counts
    else:
        raise ValueError(f"unknown confidence scheme {scheme!r}; expected one of {SCHEMES}")
    return c.astype(np.float32)


def confidence_matrix(plays: sp.spmatrix, scheme: str = "log", alpha: float = 2.0,
                      epsilon: float = 1.0) -> sp.csr_matrix:
    """The sparse confidence matrix ``C`` of a play-count matrix.

    Parameters
    ----------
    plays : scipy.sparse matrix
        Play counts (any orientation; the result has the same shape).
    scheme, alpha, epsilon
        See :func:`confidence_values`.

    Returns
    -------
    scipy.sparse.csr_matrix of float32
        ``c_ui`` on the non-zeros of ``plays``, explicit zeros removed first.
    """
    plays = sp.csr_matrix(plays, copy=True)
    plays.eliminate_zeros()
    if plays.nnz and plays.data.min() < 0:
        raise ValueError("play counts must be >= 0")
    return sp.csr_matrix((confidence_values(plays.data, scheme, alpha, epsilon),
                          plays.indices, plays.indptr), shape=plays.shape)
