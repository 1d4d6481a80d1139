"""The shard store's contract, run against every feature kind (issue 17).

:class:`ShardContract` holds the tests; each feature kind's class (mel
spectrograms, Echo Nest features) only says how to make small generated
inputs of that kind and which library calls its shard task makes, in the
way implicit's ``RecommenderBaseTestMixin`` runs one set of tests against
every backend. A new feature kind gets the whole contract from one subclass.

The contract: the kind's shard-folder call writes ``shard.h5`` and
``results.json``, which :func:`krotos.shards.manifest.index_shards` indexes;
each ok track's frames read back exactly as the kind's extraction function
computes them; every other track is in the manifest with a status and a
reason naming it, refused through the one :class:`krotos.shards.status.Rejected`;
a killed write leaves no shard that looks complete; and a track id that is
not there is a clear error.
"""

import collections
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from krotos.shards import status as st
from krotos.shards.manifest import RESULTS_FILE, SHARD_FILE, index_shards, read_manifest
from krotos.shards.reader import ShardReader, read_track
from krotos.shards.sharding import shard_items
from krotos.shards.writer import ShardWriter

REPO = Path(__file__).resolve().parents[1]

# Run in a child process that kills itself (SIGKILL: no cleanup runs) halfway
# through the shard, after some tracks were appended; {call} extracts the shard.
KILLER = """
import json, os, signal, sys

def progress(fraction, message=None):
    if fraction >= 0.5:
        os.kill(os.getpid(), signal.SIGKILL)

args = json.loads(sys.argv[1])
{call}
"""


class ShardContract:
    """The tests every feature kind passes; subclasses provide the kind's side.

    Subclasses set ``n_channels``, ``killer_call`` (Python run by
    :data:`KILLER` with ``args`` and ``progress``) and implement
    :meth:`make_inputs`, :meth:`write_shard_folder`, :meth:`direct_frames`
    and :meth:`killer_args`.
    """

    n_channels = None
    killer_call = None

    def make_inputs(self, folder):
        """Generate the inputs in ``folder``; a namespace with ``track_ids`` (sorted),
        ``expected`` (``track_id -> status``) and what the kind's calls need."""
        raise NotImplementedError

    def write_shard_folder(self, inputs, track_ids, out_dir):
        """The kind's shard task's library call: ``shard.h5`` and ``results.json``."""
        raise NotImplementedError

    def direct_frames(self, inputs, track_id):
        """The kind's extraction function on one track (raises ``st.Rejected``)."""
        raise NotImplementedError

    def killer_args(self, inputs, out_path):
        """JSON-able ``args`` of :attr:`killer_call`, writing the shard to ``out_path``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the store

    @pytest.fixture(scope="class")
    def store(self, tmp_path_factory):
        """Two shard folders of the kind and the manifest over them."""
        root = tmp_path_factory.mktemp(type(self).__name__)
        inputs = self.make_inputs(root / "inputs")
        folders = []
        for i in range(2):
            folder = root / "Shards" / f"sig{i}"
            folder.mkdir(parents=True)
            self.write_shard_folder(inputs, shard_items(inputs.track_ids, i, 2), str(folder))
            folders.append(str(folder))
        index = root / "Index" / "sig"
        index.mkdir(parents=True)
        index_shards(folders, str(index))
        return types.SimpleNamespace(inputs=inputs, folders=folders,
                                     manifest=read_manifest(index / "manifest.json"))

    def _ok(self, store):
        return [t for t in store.inputs.track_ids if store.inputs.expected[t] == st.OK]

    def _rejected(self, store):
        return [t for t in store.inputs.track_ids if store.inputs.expected[t] != st.OK]

    # ------------------------------------------------------------------ writing

    def test_each_shard_folder_holds_the_shard_and_its_results(self, store):
        for folder in store.folders:
            assert sorted(os.listdir(folder)) == [RESULTS_FILE, SHARD_FILE]
            with open(os.path.join(folder, RESULTS_FILE), encoding="utf-8") as f:
                results = json.load(f)
            assert results["params"] == store.manifest["params"]
            assert results["summary"] == st.count_statuses(results["tracks"])
            with ShardReader(os.path.join(folder, SHARD_FILE)) as reader:
                assert reader.n_channels == self.n_channels
                assert reader.params == store.manifest["params"]
                assert reader.track_ids == [t for t, r in results["tracks"].items()
                                            if r["status"] == st.OK]

    def test_both_shards_hold_tracks(self, store):
        # The inputs are laid out so that each shard has ok and refused tracks.
        for shard in store.manifest["shards"]:
            assert shard["track_ids"]
        assert {r["shard"] for t, r in store.manifest["tracks"].items()
                if r["status"] != st.OK} == {0, 1}

    # ------------------------------------------------------------------ reading

    def test_every_ok_track_reads_back_as_extracted(self, store):
        for track_id in self._ok(store):
            stored = read_track(store.manifest, track_id)
            assert stored.shape[1] == self.n_channels and len(stored) > 0
            expected = self.direct_frames(store.inputs, track_id)
            # Extraction rounds to the storage type itself: the shard holds its values exactly.
            np.testing.assert_array_equal(np.asarray(stored, np.float32), expected)

    def test_reader_by_id_position_and_window(self, store):
        shard = store.manifest["shards"][0]
        with ShardReader(shard["path"]) as reader:
            assert len(reader) == len(shard["track_ids"])
            for i, (track_id, frames) in enumerate(reader):
                assert reader.index_of(track_id) == i and track_id in reader
                np.testing.assert_array_equal(reader[track_id], frames)
                assert reader.n_frames(i) == len(frames)
                np.testing.assert_array_equal(reader.read(i, start=2, length=5), frames[2:7])

    # ------------------------------------------------------------------ statuses

    def test_the_manifest_records_every_tracks_status(self, store):
        tracks = store.manifest["tracks"]
        assert sorted(tracks) == store.inputs.track_ids
        assert {t: r["status"] for t, r in tracks.items()} == store.inputs.expected
        assert store.manifest["summary"] == dict(collections.Counter(
            store.inputs.expected.values()))
        stored = {t for shard in store.manifest["shards"] for t in shard["track_ids"]}
        assert stored == set(self._ok(store))

    def test_a_refused_track_has_a_reason_naming_it(self, store):
        for track_id in self._rejected(store):
            record = store.manifest["tracks"][track_id]
            assert record["status"] in st.ALL
            assert track_id in record["reason"], record

    def test_extraction_refuses_through_the_one_rejection_type(self, store):
        refused = [t for t in self._rejected(store) if t in store.inputs.files]
        assert refused
        for track_id in refused:
            with pytest.raises(st.Rejected) as info:
                self.direct_frames(store.inputs, track_id)
            record = store.manifest["tracks"][track_id]
            assert info.value.entry() == {"status": record["status"], "reason": record["reason"]}

    # ------------------------------------------------------------------ a killed write

    def test_a_killed_write_leaves_no_shard_that_looks_complete(self, store, tmp_path):
        out = tmp_path / "out" / SHARD_FILE
        args = self.killer_args(store.inputs, str(out))
        proc = subprocess.run(
            [sys.executable, "-c", KILLER.format(call=self.killer_call), json.dumps(args)],
            env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True)
        assert proc.returncode == -9, proc.stderr
        assert not out.exists()
        leftovers = os.listdir(out.parent)
        # Only the writer's hidden temporary (krotos.staging.atomic_path) is left.
        assert leftovers and all(name.startswith(".tmp-") for name in leftovers)

    # ------------------------------------------------------------------ missing ids

    def test_a_missing_track_id_is_a_clear_error(self, store):
        shard = store.manifest["shards"][0]["path"]
        with ShardReader(shard) as reader:
            assert "TRNOTTHERE" not in reader
            with pytest.raises(KeyError, match=f"TRNOTTHERE is not in shard {shard}"):
                reader["TRNOTTHERE"]
        with pytest.raises(KeyError, match="TRNOTTHERE is not in the manifest"):
            read_track(store.manifest, "TRNOTTHERE")
        refused = self._rejected(store)[0]
        status = store.manifest["tracks"][refused]["status"]
        with pytest.raises(KeyError, match=f"{refused} has no frames: {status}"):
            read_track(store.manifest, refused)


# --------------------------------------------------------------------------- mel

def _music(seconds, sr, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return sum(0.2 * np.sin(2 * np.pi * f * t) for f in rng.uniform(100, 4000, 3)).astype(
        np.float32)


class TestMelShards(ShardContract):
    """Log-mel spectrograms of audio previews (the ``Spectrograms`` task's calls)."""

    n_channels = 16
    killer_call = ("from krotos.audio.extract import ExtractParams, extract_shard\n"
                   "extract_shard(args['previews'], args['out'], ExtractParams(**args['params']),"
                   " progress=progress)")

    @staticmethod
    def params():
        from krotos.audio.extract import ExtractParams

        return ExtractParams(n_mels=16, min_seconds=3.0)

    def make_inputs(self, folder):
        folder.mkdir(parents=True)
        sr = 22050
        clips = {"TRMEL01": _music(4, sr, 1), "TRMEL02": _music(5, sr, 2),
                 "TRMEL03": _music(1, sr, 3),                   # too short
                 "TRMEL04": _music(4.5, sr, 4),
                 "TRMEL05": np.zeros(4 * sr, np.float32),       # silent
                 "TRMEL06": _music(6, sr, 6)}
        files = {}
        for track_id, samples in clips.items():
            files[track_id] = str(folder / f"{track_id}.wav")
            sf.write(files[track_id], samples, sr)
        files["TRMEL07"] = str(folder / "TRMEL07.wav")
        Path(files["TRMEL07"]).write_bytes(b"<html>TRMEL07 is not audio</html>")  # undecodable
        expected = {"TRMEL01": st.OK, "TRMEL02": st.OK, "TRMEL03": st.TOO_SHORT,
                    "TRMEL04": st.OK, "TRMEL05": st.SILENT, "TRMEL06": st.OK,
                    "TRMEL07": st.UNDECODABLE, "TRMEL08": st.MISSING_PREVIEW}
        return types.SimpleNamespace(folder=str(folder), files=files, expected=expected,
                                     track_ids=sorted(expected))

    def _previews(self, inputs, track_ids):
        return [{"track_id": t, "path": inputs.files[t], "status": st.OK, "reason": ""}
                if t in inputs.files else
                {"track_id": t, "path": None, "status": st.MISSING_PREVIEW,
                 "reason": f"no preview of {t} in the folder"}
                for t in track_ids]

    def write_shard_folder(self, inputs, track_ids, out_dir):
        from krotos.audio.extract import extract_shard_files
        from krotos.sources.fetch import write_previews_json

        previews = os.path.join(os.path.dirname(out_dir), f"previews-{os.path.basename(out_dir)}.json")
        write_previews_json(previews, self._previews(inputs, track_ids), inputs.folder)
        return extract_shard_files(previews, out_dir, self.params(),
                                   previews_folder=inputs.folder)

    def direct_frames(self, inputs, track_id):
        from krotos.audio.extract import spectrogram_of_file

        # Named as previews.json names it, as the shard task's reasons do.
        return spectrogram_of_file(inputs.files[track_id], self.params(),
                                   name=os.path.basename(inputs.files[track_id]))

    def killer_args(self, inputs, out_path):
        params = self.params().as_dict()
        for derived in ("log_compression", "frame_axis"):
            params.pop(derived)
        return {"previews": self._previews(inputs, inputs.track_ids), "out": out_path,
                "params": params}


# --------------------------------------------------------------------------- echonest

def _segments(duration, seed):
    rng = np.random.default_rng(seed)
    starts = np.sort(rng.uniform(0, duration, int(duration * 4)))
    starts[0] = 0.0
    n = len(starts)
    loudness = rng.uniform(-40, -5, n)
    return {"duration": float(duration), "segments_start": starts,
            "segments_timbre": rng.normal(0, 50, (n, 12)),
            "segments_pitches": rng.uniform(0, 1, (n, 12)),
            "segments_loudness_max": loudness, "segments_loudness_start": loudness - 3,
            "beats_start": np.arange(0.1, duration, 0.5)}


class TestEchonestShards(ShardContract):
    """Echo Nest segment features of MSD track files (the ``EchonestFeatures`` task's calls)."""

    n_channels = 25
    killer_call = ("from krotos.features.echonest import EchonestParams\n"
                   "from krotos.features.echonest_shard import extract_echonest_shard\n"
                   "extract_echonest_shard(args['tracks'], args['root'], args['out'],"
                   " EchonestParams(**args['params']), progress=progress)")

    @staticmethod
    def params():
        from krotos.features.echonest import EchonestParams

        return EchonestParams(min_seconds=5.0)

    def make_inputs(self, folder):
        from krotos.demo.msd_h5 import write_msd_track_arrays
        from krotos.features.echonest_shard import msd_h5_path

        analyses = {"TRAAAAA128F0000001": _segments(12.0, 1),
                    "TRAAAAA128F0000002": _segments(20.0, 2),
                    "TRAAAAA128F0000003": _segments(2.0, 3),     # too short
                    "TRAAAAA128F0000004": _segments(9.0, 4),
                    "TRAAAAA128F0000005": _segments(10.0, 5),    # NaN timbre: bad analysis
                    "TRAAAAA128F0000006": _segments(15.0, 6)}
        analyses["TRAAAAA128F0000005"]["segments_timbre"][3, 2] = np.nan
        files = {}
        for track_id, arrays in analyses.items():
            files[track_id] = msd_h5_path(folder, track_id)
            write_msd_track_arrays(files[track_id], {"track_id": track_id}, arrays)
        files["TRAAAAA128F0000007"] = msd_h5_path(folder, "TRAAAAA128F0000007")
        os.makedirs(os.path.dirname(files["TRAAAAA128F0000007"]), exist_ok=True)
        Path(files["TRAAAAA128F0000007"]).write_bytes(b"not HDF5 at all")  # unreadable
        expected = {"TRAAAAA128F0000001": st.OK, "TRAAAAA128F0000002": st.OK,
                    "TRAAAAA128F0000003": st.TOO_SHORT, "TRAAAAA128F0000004": st.OK,
                    "TRAAAAA128F0000005": st.BAD_ANALYSIS, "TRAAAAA128F0000006": st.OK,
                    "TRAAAAA128F0000007": st.UNREADABLE_H5,
                    "TRAAAAA128F0000008": st.MISSING_H5}       # no file at all
        return types.SimpleNamespace(root=str(folder), files=files, expected=expected,
                                     track_ids=sorted(expected))

    def write_shard_folder(self, inputs, track_ids, out_dir):
        from krotos.features.echonest_shard import extract_echonest_shard_files

        return extract_echonest_shard_files(track_ids, inputs.root, out_dir, self.params())

    def direct_frames(self, inputs, track_id):
        from krotos.features.echonest import features_of_file

        # Named relative to the MSD folder, as the shard task's reasons do.
        path = inputs.files[track_id]
        matrix, _ = features_of_file(path, self.params(), track_id=track_id,
                                     where=os.path.relpath(path, inputs.root))
        return matrix

    def killer_args(self, inputs, out_path):
        return {"tracks": inputs.track_ids, "root": inputs.root, "out": out_path,
                "params": {"min_seconds": self.params().min_seconds}}


# --------------------------------------------------------------------------- the writer itself

def test_a_failing_write_leaves_nothing(tmp_path):
    out = tmp_path / SHARD_FILE
    with pytest.raises(ValueError, match="NaN"):
        with ShardWriter(out, n_channels=3) as writer:
            writer.append("TR1", np.zeros((4, 3)))
            writer.append("TR2", np.full((4, 3), np.nan))
    assert os.listdir(tmp_path) == []


def test_the_writer_refuses_a_matrix_of_another_width(tmp_path):
    with pytest.raises(ValueError, match=r"TR1: expected a \(frames, 3\) matrix"):
        with ShardWriter(tmp_path / SHARD_FILE, n_channels=3) as writer:
            writer.append("TR1", np.zeros((4, 2)))
    assert os.listdir(tmp_path) == []
