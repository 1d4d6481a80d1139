"""The krotos Luigi tasks: ``luigi --module pipeline FinetuneLatents --workers 4``.

One module per stage; importing this package registers every task. Importing
must stay cheap and side-effect free (no TensorFlow, no open databases, no
patched Luigi except under the ``luigi`` command, see below), since Luigi
imports it in every worker. ``FinetuneLatents`` (:mod:`pipeline.main`)
composes the whole DAG.
"""

from pipeline.config import krotos  # noqa: F401
from pipeline.base import KrotosTask  # noqa: F401
from pipeline.demo import DemoDataset  # noqa: F401
from pipeline.dataset import RealDataset, dataset_task  # noqa: F401
from pipeline.tagdb import TagDatabase  # noqa: F401
from pipeline.split import SongSplit  # noqa: F401
from pipeline.audio import FetchPreviews, Spectrograms, SpectrogramIndex  # noqa: F401
from pipeline.cf import PlayMatrix, TuneALS, Factorize, EvaluateCF  # noqa: F401
from pipeline.tags_model import (  # noqa: F401
    TrainTagModel, EvaluateTags, Embed, CompareTagModels, DemoTagCeiling)
from pipeline.latents import FinetuneModel, EvaluateRecommendation  # noqa: F401
from pipeline.report import Report  # noqa: F401
from pipeline.main import FinetuneLatents  # noqa: F401
from pipeline.replicates import Replicates  # noqa: F401
from pipeline.demo import DemoMSDFiles  # noqa: F401
from pipeline.echonest import EchonestFeatures, EchonestIndex  # noqa: F401
from pipeline import scheduler_check

# The `luigi` command imports `--module pipeline` and then connects to the
# central scheduler with no hook in between: this import is the one moment
# krotos code runs before that connection, so the probe that turns a
# missing luigid into a clear message is installed here. Only for that
# command: a plain `import pipeline` (the krotos commands, the tests,
# luigi.build) leaves Luigi as it is.
if scheduler_check.running_luigi_command():
    scheduler_check.install()
