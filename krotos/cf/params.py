"""The collaborative-filtering stages' settings: one frozen dataclass per stage (issue 17).

Light (no NumPy, SciPy or implicit), so that the Luigi tasks can import them.
The defaults are luigi.cfg's (``[PlayMatrix]``, ``[Factorize]``); the tasks
take theirs from here and ``tests/test_config_defaults.py`` checks both agree.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class PlayMatrixParams:
    """How the Taste Profile plays become a split play matrix
    (:func:`krotos.cf.playmatrix.build_play_split`).

    Parameters
    ----------
    min_user_songs, min_song_users : int
        Drop users with fewer distinct songs, songs with fewer distinct
        listeners (re-applied until stable; see
        :func:`krotos.cf.playmatrix.filter_play_matrix`).
    n_songs : int
        Keep only the ``n_songs`` songs with most listeners; 0: all.
    holdout_fraction, valid_fraction : float
        Fractions of each user's warm songs held out for the test and for
        validation (see :func:`krotos.cf.playmatrix.split_plays`).
    seed : int
        Of the held-out plays.
    chunk_lines : int
        Triplet lines parsed at a time (bounds the memory of the parsing).
    """

    min_user_songs: int = 1
    min_song_users: int = 1
    n_songs: int = 0
    holdout_fraction: float = 0.2
    valid_fraction: float = 0.1
    seed: int = 0
    chunk_lines: int = 250_000


@dataclasses.dataclass(frozen=True)
class ALSParams:
    """One weighted-ALS factorization (:func:`krotos.cf.als.fit_als`).

    ``factors``, ``regularization`` and ``alpha`` have no default: luigi.cfg
    gives grids of them that ``TuneALS`` chooses from on the validation plays,
    and a factorization is always of one chosen point.

    Parameters
    ----------
    factors : int
        Latent dimensions.
    regularization : float
        L2 weight lambda.
    alpha : float
        Weight of plays in the confidence.
    iterations : int
        ALS sweeps.
    epsilon : float
        Count scale of the log confidence.
    confidence : {'log', 'linear'}
        ``1 + alpha log(1 + plays/epsilon)`` or ``1 + alpha plays``.
    seed : int
        Of the initial factors.
    num_threads : int
        CPU threads of implicit; 0: all cores.
    use_gpu : bool, optional
        None: implicit's GPU solver when CUDA is there (see :func:`krotos.cf.als.fit_als`).
    """

    factors: int
    regularization: float
    alpha: float
    iterations: int = 15
    epsilon: float = 1.0
    confidence: str = "log"
    seed: int = 0
    num_threads: int = 0
    use_gpu: bool = None

    def hyperparameters(self) -> dict:
        """The fields that define the model (not how it is computed), as a dict."""
        return dict(factors=int(self.factors), regularization=float(self.regularization),
                    iterations=int(self.iterations), alpha=float(self.alpha),
                    epsilon=float(self.epsilon), confidence=self.confidence)
