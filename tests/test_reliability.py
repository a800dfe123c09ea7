"""Reliability: live streams that drop and come back, faults mid-run, signals, a full disk,
corrupt files and invalid detections."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.fakes import TruthDetector
from tests.live_server import ColourDetector, LiveServer
from tracker.config import SourceConfig, load_config
from tracker.eval.synthetic import SynthConfig, write_synthetic
from tracker.pipeline import Pipeline
from tracker.source import open_source
from tracker.structures import Detections
from tracker.tracks import Tracker

HIGHWAY = ROOT.parent / "shared" / "data" / "real" / "highway_720p.mp4"


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("long")
    video, gt = folder / "long.mp4", folder / "long_gt.txt"
    write_synthetic(SynthConfig(width=320, height=240, fps=15, num_frames=300, seed=5), video, gt)
    return video, gt


def playable_frames(path: Path) -> int:
    return len(list(open_source(path)))


def jsonl_frames(path: Path) -> list[int]:
    """Frames of a JSON Lines track file; every line must parse."""
    return [json.loads(line)["frame"] for line in path.read_text().splitlines()]


# ------------------------------------------------------------------ live streams


def test_live_stream_reconnects_and_objects_keep_their_ids():
    server = LiveServer(fps=20)
    server.start()
    config = load_config(None, ["camera_motion.enabled=false", "tracker.lifecycle.min_hits=2"])
    ids_before, ids_after, reconnected_at = set(), set(), None
    try:
        with Pipeline(config, ColourDetector()) as pipe:
            for i, result in enumerate(pipe.stream(server.url)):
                source = pipe.last_source
                if i == 30:
                    server.stop()  # the camera drops ...
                    threading.Timer(0.6, server.start).start()  # ... and is back 0.6 s later
                if source.stats.reconnects == 0:
                    ids_before.update(result.tracks.id.tolist())
                else:
                    reconnected_at = reconnected_at if reconnected_at is not None else i
                    ids_after.update(result.tracks.id.tolist())
                if reconnected_at is not None and i >= reconnected_at + 30:
                    break
                assert i < 400, "the stream never came back"
            stats = pipe.last_source.stats
    finally:
        server.stop()
    assert stats.reconnects == 1
    assert 0.3 < stats.gaps_s[0] < 3.0  # the outage is reported, in seconds
    assert ids_before == {1, 2}
    assert ids_after == {1, 2}, "objects present before and after the gap keep their ids"


def test_live_stream_that_never_returns_ends_cleanly_after_the_budget(tmp_path):
    server = LiveServer(fps=20)
    server.start()
    config = load_config(
        None,
        ["camera_motion.enabled=false", "source.reconnect_budget_s=1.0", "source.reconnect_max_s=0.2"],
    )

    def stop_after(result):
        if result.frame.index == 10:
            server.stop()

    start = time.monotonic()
    with Pipeline(config, ColourDetector()) as pipe:
        summary = pipe.run(server.url, tmp_path / "live.mp4", tmp_path / "live.jsonl", on_frame=stop_after)
    assert 10 <= summary.frames < 200 and time.monotonic() - start < 20
    assert playable_frames(tmp_path / "live.mp4") == summary.frames
    assert len(set(jsonl_frames(tmp_path / "live.jsonl"))) > 0


def test_resolution_change_after_a_reconnect_keeps_the_run_going(tmp_path):
    server = LiveServer(fps=20)
    server.start()
    config = load_config(None, ["source.live_policy=every"])
    frames_after = []

    def on_frame(result):
        if result.frame.index == 15:
            server.stop()
            server.size = (640, 480)  # the camera comes back at another resolution
            threading.Timer(0.3, server.start).start()
        if result.frame.image.shape[1] == 640:
            frames_after.append(result.frame.index)
            if len(frames_after) == 15:
                raise KeyboardInterrupt  # the user stops the live run

    try:
        with Pipeline(config, ColourDetector()) as pipe, pytest.raises(KeyboardInterrupt):
            pipe.run(server.url, tmp_path / "live.mp4", tmp_path / "live.jsonl", on_frame=on_frame)
    finally:
        server.stop()
    assert len(frames_after) == 15
    with_frames = playable_frames(tmp_path / "live.mp4")  # one file, first resolution, all frames
    assert with_frames == pipe.last_summary.frames


def test_latest_frame_policy_drops_and_counts_what_a_slow_consumer_misses():
    server = LiveServer(fps=40)
    server.start()
    try:
        source = open_source(server.url, live=SourceConfig(live_policy="latest"))
        for i, _ in enumerate(source):
            time.sleep(0.1)  # a consumer 4x slower than the camera
            if i == 10:
                break
    finally:
        server.stop()
    assert source.stats.dropped >= 10


# ------------------------------------------------------------------ faults mid-run


class FailsAt(TruthDetector):
    def __init__(self, gt: Path, frame: int) -> None:
        super().__init__(gt)
        self.fail_at = frame

    def detect(self, frames):
        if any(f.index >= self.fail_at for f in frames):
            raise RuntimeError("detector crashed")
        return super().detect(frames)


def test_detector_fault_finalises_outputs_up_to_the_last_frame(long_clip, tmp_path):
    video, gt = long_clip
    config = load_config(None, ["run.batch_size=1"])
    with Pipeline(config, FailsAt(gt, 40)) as pipe, pytest.raises(RuntimeError, match="detector crashed"):
        pipe.run(video, tmp_path / "out.mp4", tmp_path / "t.jsonl")
    summary = pipe.last_summary
    assert summary.frames == 40 and summary.error is not None
    assert playable_frames(tmp_path / "out.mp4") == 40
    frames = jsonl_frames(tmp_path / "t.jsonl")
    assert max(frames) == 39 and frames == sorted(frames)


def test_a_failed_run_never_clobbers_an_existing_output(long_clip, tmp_path):
    video, gt = long_clip
    (tmp_path / "out.mp4").write_bytes(b"precious")
    (tmp_path / "t.jsonl").write_text("precious\n")
    config = load_config(None, ["run.batch_size=1"])
    with Pipeline(config, FailsAt(gt, 25)) as pipe, pytest.raises(RuntimeError):
        pipe.run(video, tmp_path / "out.mp4", tmp_path / "t.jsonl")
    assert (tmp_path / "out.mp4").read_bytes() == b"precious"
    assert (tmp_path / "t.jsonl").read_text() == "precious\n"
    assert playable_frames(tmp_path / "out.partial.mp4") == 25
    assert max(jsonl_frames(tmp_path / "t.partial.jsonl")) == 24
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "out.mp4",
        "out.partial.mp4",
        "t.jsonl",
        "t.partial.jsonl",
    ]


def _track_cli(args: list, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _wait_for_lines(path: Path, lines: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and path.read_text().count("\n") >= lines:
            return
        time.sleep(0.02)
    raise AssertionError(
        f"the run did not get going: {proc.poll()} {proc.stderr.read() if proc.stderr else ''}"
    )


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_signal_mid_run_finalises_outputs(long_clip, tmp_path, sig, code, word):
    video, _ = long_clip
    out, tracks = tmp_path / "out.mp4", tmp_path / "t.jsonl"
    proc = _track_cli([video, "--detector", "builtin", "--out", out, "--tracks-out", tracks])
    _wait_for_lines(tmp_path / ".t.part.jsonl", 20, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(word), stderr
    assert "Traceback" not in stderr
    frames = jsonl_frames(tracks)
    written = playable_frames(out)
    assert 0 < written < 300 and max(frames) < written  # video and tracks agree, both partial
    assert f"up to frame {written}" in lines[0]


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_disk_full_mid_run_keeps_what_was_written(long_clip, tmp_path):
    video, gt = long_clip
    out, tracks = tmp_path / "out.mp4", tmp_path / "t.jsonl"
    proc = _track_cli(
        [video, "--detector", f"file:{gt}", "--out", out, "--tracks-out", tracks],
        preexec_fn=_limit_file_size(60_000),
    )
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: encode stage failed"), stderr
    assert "File too large" in lines[0] and str(out) in lines[0] and str(tracks) in lines[0]
    written = playable_frames(out)
    assert 0 < written < 300
    frames = jsonl_frames(tracks)  # every line whole
    assert frames == sorted(frames) and max(frames) < 300


# ------------------------------------------------------------------ bad data


@pytest.mark.skipif(not HIGHWAY.is_file(), reason="needs ../shared/data/real/highway_720p.mp4")
def test_corrupt_and_cut_files_are_processed_to_the_end(tmp_path):
    data = HIGHWAY.read_bytes()
    damaged = bytearray(data)
    middle = len(data) // 2
    damaged[middle : middle + 4000] = bytes(4000)  # a run of bytes wiped in the middle
    (tmp_path / "damaged.mp4").write_bytes(bytes(damaged))
    (tmp_path / "cut.mp4").write_bytes(data[: int(len(data) * 0.6)])  # cut mid-frame

    class Empty:
        class_names = ("car",)

        def detect(self, frames):
            return [Detections.empty() for _ in frames]

    for name, least in (("damaged.mp4", 30), ("cut.mp4", 10)):
        with Pipeline(load_config(), Empty()) as pipe:
            summary = pipe.run(tmp_path / name, tmp_path / f"out-{name}")
        assert summary.frames >= least
        assert summary.corrupt_frames_skipped >= 1, name
        assert summary.frames + summary.corrupt_frames_skipped <= 38
        assert playable_frames(tmp_path / f"out-{name}") == summary.frames


def test_invalid_detections_are_dropped_and_counted():
    tracker = Tracker()
    dets = Detections(
        np.array([[0, 0, 10, 10], [np.nan, 0, 5, 5], [5, 5, 1, 9], [0, 0, np.inf, 3]], np.float32),
        np.array([0.9, 0.9, 0.9, 0.9]),
        np.zeros(4),
    )
    tracker.update(dets)
    assert tracker.invalid_detections == 3
