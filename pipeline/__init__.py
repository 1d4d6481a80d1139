"""The krotos Luigi tasks: ``luigi --module pipeline FinetuneLatents --workers 4``.

One module per stage; importing this package registers every task. Importing
must stay cheap and side-effect free (no TensorFlow, no open databases),
since Luigi imports it in every worker.
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
from pipeline.latents import FinetuneLatents, EvaluateRecommendation  # noqa: F401
from pipeline.report import Report  # noqa: F401
from pipeline.replicates import Replicates  # noqa: F401
from pipeline.demo import DemoMSDFiles  # noqa: F401
from pipeline.echonest import EchonestFeatures, EchonestIndex  # noqa: F401
import pipeline.scheduler_check  # noqa: F401,E402 - a clear message when luigid is not running
