"""The cold-start evaluation's settings (light: no NumPy, for the Luigi task to import)."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class ColdStartParams:
    """How the cold-start songs are scored (:func:`krotos.coldstart.evaluate.evaluate_cold_start`;
    defaults: luigi.cfg's ``[EvaluateRecommendation]``).

    Parameters
    ----------
    n_example_users, top_n : int
        How many users get a top-``top_n`` list of cold songs in the output.
    seed : int
        Of the random scores and of the bootstrap.
    n_resamples : int
        Bootstrap resamples of the users.
    max_interval_width : float
        Intervals wider than this are listed under ``warnings`` (code-only).
    """

    n_example_users: int = 5
    top_n: int = 10
    seed: int = 0
    n_resamples: int = 1000
    max_interval_width: float = 0.1
