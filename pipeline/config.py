"""The ``[krotos]`` section of luigi.cfg: where data lives and which dataset to use."""

import luigi


class krotos(luigi.Config):  # noqa: N801 - the class name is the config section name
    """Global settings; ``--krotos-data-root DIR`` etc. on the command line."""

    data_root = luigi.Parameter(
        default="data", description="folder under which every task writes its outputs")
    track_metadata = luigi.Parameter(
        default="", description="MSD track_metadata.db; empty: use the demo dataset")
    lastfm_tags = luigi.Parameter(default="", description="Last.fm lastfm_tags.db")
    lastfm_json = luigi.Parameter(
        default="", description="Last.fm per-track JSON folder (instead of or beside lastfm_tags)")
    triplets = luigi.Parameter(default="", description="Taste Profile train_triplets.txt")
    sid_mismatches = luigi.Parameter(default="", description="MSD sid_mismatches.txt")
    unique_tracks = luigi.Parameter(default="", description="MSD unique_tracks.txt")
    previews = luigi.Parameter(
        default="", description="folder of previews named <track_7digitalid>.mp3 or <track_id>.<ext>")
    msd_h5 = luigi.Parameter(
        default="", description="MSD per-track HDF5 files (A/B/C/TR*.h5) or an aggregate .h5")
    features = luigi.ChoiceParameter(
        default="mel", choices=["mel", "echonest"],
        description="model input: mel spectrograms of audio, or Echo Nest segments of the MSD files")

    def dataset_settings(self):
        """``{setting: value}`` of the real-dataset paths."""
        from krotos.config import DATASET_INPUTS
        return {key: getattr(self, key) for key in DATASET_INPUTS}
