"""krotos: content-based music recommendation.

Learn what songs sound like (a CNN on log-mel spectrograms trained on Last.fm
tags), then learn to predict collaborative-filtering latent factors from the
audio alone, so that songs nobody has played yet can be recommended.

The Luigi tasks that run the whole pipeline live in the ``pipeline`` package;
this package holds the library they call, usable without Luigi.
"""

__version__ = "0.1.0"
