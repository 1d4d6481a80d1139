"""Tag scores that need no TensorFlow: shared by the CNN's training and the baselines."""

import numpy as np
from sklearn.metrics import roc_auc_score


def roc_auc_macro(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Macro ROC-AUC over the tags that have positives and negatives (NaN if none).

    The validation metric of tag training (higher is better), and the one on
    which the bag-of-frames baseline chooses its regularization.

    Parameters
    ----------
    y_true : array-like (n_clips, n_tags) of 0/1
    y_score : array-like (n_clips, n_tags)

    Returns
    -------
    float
    """
    y_true = np.asarray(y_true) > 0.5
    y_score = np.asarray(y_score)
    pos = y_true.sum(axis=0)
    cols = np.flatnonzero((pos > 0) & (pos < y_true.shape[0]))
    if len(cols) == 0:
        return float("nan")
    return float(np.mean([roc_auc_score(y_true[:, j], y_score[:, j]) for j in cols]))
