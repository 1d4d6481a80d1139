"""One shard end to end: every bad input recorded with its reason, the rest stored."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from krotos.audio.extract import ExtractParams, extract_shard, extract_shard_files
from krotos.shards import status as st
from krotos.shards.manifest import index_shards, read_manifest
from krotos.shards.reader import ShardReader
from krotos.shards.sharding import count_input_tracks, n_shards, shard_items
from krotos.sources.fetch import write_previews_json

REPO = Path(__file__).resolve().parents[1]
REAL_AUDIO = REPO.parent / "shared" / "fixtures" / "real" / "audio"


def music(seconds, sr, channels=2, seed=0):
    """A few partials with an envelope: enough structure for a spectrogram."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = sum(0.2 * np.sin(2 * np.pi * f * t) for f in rng.uniform(100, 4000, 4))
    y = y * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    return np.stack([y * (1 - 0.1 * c) for c in range(channels)], axis=1)


def write(folder, name, data, sr, **kw):
    path = folder / name
    sf.write(path, data, sr, **kw)
    return str(path)


@pytest.fixture(scope="module")
def bad_and_good(tmp_path_factory):
    """``[(track_id, path, status, reason, expected status)]``."""
    d = tmp_path_factory.mktemp("previews")
    items = []

    def add(tid, path, expected, status=st.OK, reason=""):
        items.append(dict(track_id=tid, path=path, status=status, reason=reason,
                          expected=expected))

    add("TR01_mp3_44k", write(d, "1.mp3", music(6, 44100), 44100, format="MP3"), st.OK)
    add("TR02_u8", write(d, "2.wav", music(6, 44100), 44100, subtype="PCM_U8"), st.OK)
    add("TR03_96k", write(d, "3.wav", music(6, 96000), 96000, subtype="PCM_24"), st.OK)
    add("TR04_6ch", write(d, "4.flac", music(6, 48000, channels=6), 48000), st.OK)
    add("TR05_ogg", write(d, "5.ogg", music(6, 22050, 1), 22050, format="OGG",
                          subtype="VORBIS"), st.OK)
    add("TR06_2s", write(d, "6.mp3", music(2, 44100), 44100, format="MP3"), st.TOO_SHORT)
    add("TR07_silence", write(d, "7.mp3", np.zeros((6 * 44100, 2)), 44100, format="MP3"),
        st.SILENT)
    (d / "8.mp3").write_bytes(b"")
    add("TR08_empty", str(d / "8.mp3"), st.UNDECODABLE)
    (d / "9.mp3").write_bytes(b"<html><body><h1>502 Bad Gateway</h1></body></html>")
    add("TR09_html", str(d / "9.mp3"), st.UNDECODABLE)
    full = (d / "1.mp3").read_bytes()
    (d / "10.mp3").write_bytes(full[:len(full) // 2])
    add("TR10_truncated", str(d / "10.mp3"), st.UNDECODABLE)
    (d / "11.mp3").write_bytes(full[:4000] + bytes(range(256)) * 60 + full[19360:])
    add("TR11_corrupt", str(d / "11.mp3"), st.UNDECODABLE)
    add("TR12_missing", None, st.MISSING_PREVIEW, st.MISSING_PREVIEW, "HTTP 404, no preview")
    add("TR13_failed", None, st.FETCH_FAILED, st.FETCH_FAILED, "HTTP 500 (after 5 attempt(s))")
    return items


def previews_of(items):
    return [{k: v for k, v in it.items() if k != "expected"} for it in items]


def test_every_bad_input_is_recorded_and_the_shard_completes(bad_and_good, tmp_path):
    out = tmp_path / "shard.h5"
    seen = []
    params = ExtractParams()
    results = extract_shard(previews_of(bad_and_good), str(out), params,
                            progress=lambda f, m: seen.append((f, m)))
    got = {tid: r["status"] for tid, r in results.items()}
    expected = {it["track_id"]: it["expected"] for it in bad_and_good}
    assert got == expected
    # reasons name the file and say what is wrong
    assert "2.0" in results["TR06_2s"]["reason"] and "6.mp3" in results["TR06_2s"]["reason"]
    assert "dBFS" in results["TR07_silence"]["reason"]
    assert "empty file" in results["TR08_empty"]["reason"]
    assert "HTML" in results["TR09_html"]["reason"]
    assert "truncated" in results["TR10_truncated"]["reason"]
    assert results["TR12_missing"]["reason"] == "HTTP 404, no preview"
    assert st.count_statuses(results) == {"ok": 5, "too_short": 1, "silent": 1,
                                       "undecodable": 4, "missing_preview": 1,
                                       "fetch_failed": 1}
    assert seen[-1][0] == 1.0 and len(seen) == len(bad_and_good)
    assert "5 ok" in seen[-1][1]

    with ShardReader(out) as reader:
        assert reader.track_ids == [t for t, s in expected.items() if s == st.OK]
        assert reader.params["n_mels"] == 128 and reader.params["sample_rate"] == 22050
        for _tid, mel in reader:
            assert mel.dtype == np.float16 and mel.shape[1] == 128
            assert mel.shape[0] == 1 + (6 * 22050) // 512
            assert -100.01 <= mel.min() and mel.max() < 80
        # the same clip at 44.1 kHz mp3 / 96 kHz / 6 channels: similar spectra
        a, b = reader["TR01_mp3_44k"].astype(np.float32), reader["TR03_96k"].astype(np.float32)
        loud = a > a.max() - 40
        assert np.median(np.abs(a - b)[loud]) < 1.5


def test_float32_storage_and_custom_params(bad_and_good, tmp_path):
    params = ExtractParams(n_mels=40, hop_length=1024, dtype="float32", min_seconds=1.0,
                           resampler="libsamplerate")
    results = extract_shard(previews_of(bad_and_good[:6]), str(tmp_path / "s.h5"), params)
    assert results["TR06_2s"]["status"] == st.OK  # 2 s >= min_seconds = 1
    with ShardReader(tmp_path / "s.h5") as reader:
        mel = reader["TR06_2s"]
        assert mel.dtype == np.float32 and mel.shape == (1 + 2 * 22050 // 1024, 40)
        assert reader.params["resample_quality"] == "sinc_fastest"


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_spectrogram_of_samples_is_already_rounded_to_the_storage_type(dtype):
    """The one rounding of the features (issue 17): what the shard writer and
    inference (krotos.inference.clip_spectrogram) get is already at storage precision."""
    from krotos.audio.extract import spectrogram_of_samples

    params = ExtractParams(n_mels=40, dtype=dtype, min_seconds=1.0)
    mel = spectrogram_of_samples(music(2.0, 44100).mean(axis=1).astype(np.float32), 44100,
                                 params, "music")
    assert mel.dtype == np.float32 and mel.shape[1] == 40
    np.testing.assert_array_equal(mel.astype(dtype).astype(np.float32), mel)


@pytest.mark.parametrize("name", ["TRWJAZW128F42760DD_test.mp3",
                                  "joram-moments_of_clarity-08-solipsism-59-88.mp3",
                                  "Kevin_MacLeod_-_Vibe_Ace.ogg"])
def test_real_previews(tmp_path, name):
    path = REAL_AUDIO / name
    if not path.exists():
        pytest.skip(f"real audio fixture {path} is absent")
    results = extract_shard([{"track_id": "TR", "path": str(path), "status": "ok"}],
                            str(tmp_path / "s.h5"), ExtractParams())
    assert results["TR"]["status"] == st.OK
    with ShardReader(tmp_path / "s.h5") as reader:
        mel = reader["TR"].astype(np.float32)
    seconds = sf.info(str(path)).duration
    # within 1 %: mp3 decoders and headers disagree by the encoder delay/padding
    assert abs(mel.shape[0] - seconds * 22050 / 512) < 0.01 * seconds * 22050 / 512
    assert mel.std() > 5  # real music has dynamics across time and bands


def test_bad_params_are_refused():
    with pytest.raises(ValueError, match="dtype"):
        ExtractParams(dtype="int8")
    with pytest.raises(ValueError, match="fmax"):
        ExtractParams(fmin=5000, fmax=4000)
    with pytest.raises(ValueError, match="fmax"):
        ExtractParams(fmax=20000)  # above the 11.025 kHz Nyquist of 22.05 kHz
    assert ExtractParams().fmax == 11025.0


KILLER = """
import os, signal, sys, json
from krotos.audio.extract import ExtractParams, extract_shard
previews = json.load(open(sys.argv[1]))
def progress(fraction, message):
    if fraction >= 0.5:
        os.kill(os.getpid(), signal.SIGKILL)
extract_shard(previews, sys.argv[2], ExtractParams(), progress=progress)
"""


def test_killed_worker_leaves_no_shard_that_looks_complete(bad_and_good, tmp_path):
    previews = tmp_path / "p.json"
    previews.write_text(json.dumps(previews_of(bad_and_good[:4])))
    out = tmp_path / "out" / "shard.h5"
    proc = subprocess.run([sys.executable, "-c", KILLER, str(previews), str(out)],
                          env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True)
    assert proc.returncode == -9
    assert not out.exists()
    leftovers = os.listdir(out.parent)
    assert leftovers and all(n.startswith(".tmp-") for n in leftovers)
    # the rerun completes
    extract_shard(previews_of(bad_and_good[:4]), str(out), ExtractParams())
    with ShardReader(out) as reader:
        assert len(reader) == 4


def test_shard_files_and_manifest(bad_and_good, tmp_path):
    params = ExtractParams()
    dirs = []
    for i, chunk in enumerate([bad_and_good[:7], bad_and_good[7:]]):
        d = tmp_path / "Spectrograms" / f"sig{i}"
        d.mkdir(parents=True)
        src = tmp_path / f"prev{i}"
        src.mkdir()
        folder = os.path.dirname(next(it["path"] for it in chunk if it["path"]))
        write_previews_json(src / "previews.json", previews_of(chunk), folder)
        extract_shard_files(str(src / "previews.json"), str(d), params, previews_folder=folder)
        dirs.append(str(d))
    index_dir = tmp_path / "SpectrogramIndex" / "abc"
    index_dir.mkdir(parents=True)
    index_shards(dirs, str(index_dir))
    raw = json.loads((index_dir / "manifest.json").read_text())
    assert raw["shards"][0]["path"] == os.path.join("..", "..", "Spectrograms", "sig0", "shard.h5")
    m = read_manifest(index_dir / "manifest.json")
    assert m["shards"][1]["path"] == str(tmp_path / "Spectrograms" / "sig1" / "shard.h5")
    assert m["shards"][1]["track_ids"] == []  # the second half holds only bad tracks
    assert m["tracks"]["TR09_html"]["status"] == st.UNDECODABLE
    assert m["tracks"]["TR09_html"]["shard"] == 1
    # Reasons name the preview as previews.json does: relative to its folder.
    assert m["tracks"]["TR09_html"]["reason"].startswith("9.mp3: not decodable")
    assert m["tracks"]["TR01_mp3_44k"] == {"status": "ok", "reason": "", "shard": 0}
    assert m["summary"]["ok"] == 5 and sum(m["summary"].values()) == len(bad_and_good)
    assert m["params"]["n_mels"] == 128
    for shard in m["shards"]:
        with ShardReader(shard["path"]) as reader:
            assert reader.track_ids == shard["track_ids"]


def test_read_manifest_errors_name_the_file(tmp_path):
    bad = tmp_path / "manifest.json"
    bad.write_text('{"shards": []')
    with pytest.raises(ValueError, match=r"manifest\.json: line 1"):
        read_manifest(bad)
    bad.write_text('{"shards": []}')
    with pytest.raises(ValueError, match=r"missing \['tracks', 'params'\]"):
        read_manifest(bad)


def test_sharding_is_a_deterministic_partition():
    tracks = [f"TR{i:04d}" for i in range(250)]
    assert n_shards(250, 100) == 3 and n_shards(0, 100) == 0 and n_shards(200, 100) == 2
    shards = [shard_items(tracks, i, 3) for i in range(3)]
    assert [len(s) for s in shards] == [83, 83, 84]  # spread evenly, at most shard_size
    assert sum(shards, []) == tracks
    assert shard_items(tracks, 1, 3) == shards[1]
    # Fewer tracks kept than counted from the inputs: the shards only get smaller.
    kept = tracks[::3]
    assert sum((shard_items(kept, i, 3) for i in range(3)), []) == kept
    assert shard_items([], 0, 3) == []
    with pytest.raises(ValueError, match="shard_size"):
        n_shards(10, 0)
    with pytest.raises(ValueError, match=r"shard number must be in \[0, 3\)"):
        shard_items(tracks, 3, 3)


def test_input_tracks_are_counted_without_parsing(tmp_path):
    import sqlite3

    from krotos.msd.errors import InputFileError

    db = tmp_path / "track_metadata.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE songs (track_id TEXT, song_id TEXT)")
        con.executemany("INSERT INTO songs VALUES (?, ?)", [(f"TR{i}", f"SO{i}") for i in range(7)])
    con.close()
    lines = tmp_path / "unique_tracks.txt"
    lines.write_text("".join(f"TR{i}<SEP>SO{i}<SEP>a<SEP>t\n" for i in range(5)))
    tree = tmp_path / "msd"
    for name in ("A/B/C/TRABC1.h5", "A/B/D/TRABD1.h5", "A/B/D/notes.txt"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(b"")
    # The same input the tag database would read first.
    assert count_input_tracks(str(db), str(tree), str(lines)) == 7
    assert count_input_tracks(None, str(tree), str(lines)) == 2
    assert count_input_tracks(None, None, str(lines)) == 5
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(InputFileError, match=r"empty\.db"):
        count_input_tracks(str(tmp_path / "empty.db"))
