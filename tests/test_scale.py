"""Scale: ``track batch`` (local workers, Ray), ``track multi`` and ``Pipeline.streams``."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from tracker.batch import expand_inputs
from tracker.cli import main
from tracker.config import load_config
from tracker.detect import make_detector
from tracker.eval.synthetic import SynthConfig, write_synthetic
from tracker.multi import MultiStream, run_multi
from tracker.output_paths import output_stem
from tracker.pipeline import Pipeline
from tracker.structures import Detections


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("fleet")
    out = []
    for seed in range(4):
        video = folder / f"drive-{seed}.mp4"
        write_synthetic(
            SynthConfig(width=320, height=240, fps=10, num_frames=25, seed=seed),
            video,
            folder / f"gt-{seed}.txt",
        )
        out.append(video)
    return out


def batch(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["batch", *map(str, args)])
    return result.exit_code, result.output


def read_tracks(out_dir: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(out_dir.glob("*.jsonl")) if p.name != "manifest.jsonl"}


# ------------------------------------------------------------------ inputs and names


def test_inputs_from_files_globs_folders_and_list_files(videos, tmp_path):
    folder = videos[0].parent
    listing = tmp_path / "list.txt"
    listing.write_text(f"# my drives\n{videos[0]}\n{videos[1]}\n")
    assert expand_inputs([str(videos[2])]) == [videos[2]]
    assert expand_inputs([str(folder / "drive-*.mp4")]) == videos
    assert expand_inputs([str(folder)]) == videos
    assert expand_inputs([str(listing), str(videos[0])]) == videos[:2]  # duplicates dropped
    with pytest.raises(FileNotFoundError):
        expand_inputs([str(tmp_path / "nope.mp4")])


def test_output_names_cannot_collide_or_escape(tmp_path):
    a, b = tmp_path / "x" / "clip.mp4", tmp_path / "y" / "clip.mp4"
    assert output_stem(a) != output_stem(b)
    for evil in ("../../etc/passwd.mp4", "a/../../b c$(rm -rf).mp4", "....mp4", "/.mp4"):
        stem = output_stem(Path(evil))
        assert "/" not in stem and ".." not in stem and stem == Path(stem).name and stem[0] not in "._-"


# ------------------------------------------------------------------ batch


def test_batch_is_resumable_reports_failures_and_writes_a_summary(videos, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    out = tmp_path / "out"
    code, output = batch(*videos[:2], broken, "--out-dir", out)
    assert code == 1, output
    summary = json.loads((out / "summary.json").read_text())
    status = {Path(r["input"]).name: r["status"] for r in summary}
    assert status == {"drive-0.mp4": "ok", "drive-1.mp4": "ok", "broken.mp4": "failed"}
    assert "not a readable video" in next(r["error"] for r in summary if r["status"] == "failed")
    assert (out / "summary.csv").read_text().startswith("input,status,frames,tracks,fps")
    ok = [r for r in summary if r["status"] == "ok"]
    assert all(r["frames"] == 25 and Path(r["video_out"]).is_file() for r in ok)
    # a second run skips what is done (and retries what failed)
    broken.unlink()
    code, output = batch(*videos[:2], "--out-dir", out)
    assert code == 0, output
    assert "0 done, 2 skipped" in output


def test_each_video_of_a_batch_gets_the_same_threads_from_python_and_the_cli():
    from tracker.batch import per_video_config

    one = per_video_config(load_config(None, ["run.threaded=true", "encoder.threads=4"]), 1)
    assert (one.detector.threads, one.encoder.threads, one.run.threaded) == (1, 1, False)
    two = per_video_config(load_config(), 2)
    assert (two.detector.threads, two.encoder.threads, two.run.threaded) == (2, 1, True)


def test_two_workers_give_identical_outputs(videos, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert batch(*videos, "--out-dir", one, "--no-video")[0] == 0
    assert batch(*videos, "--out-dir", two, "--no-video", "--workers", "2")[0] == 0
    assert read_tracks(one) == read_tracks(two) and len(read_tracks(one)) == 4


def test_ray_missing_says_how_to_install(videos, tmp_path, monkeypatch):
    monkeypatch.setattr("tracker.batch.ray_available", lambda: False)
    code, output = batch(videos[0], "--out-dir", tmp_path, "--ray")
    assert code == 2 and "pip install 'driving-tracker[ray]'" in output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_cluster():
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install '.[ray]'")
    ray_bin = Path(sys.executable).parent / "ray"
    port = _free_port()
    env_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths are limited
    start = [str(ray_bin), "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false"]
    start += ["--node-ip-address=127.0.0.1", f"--temp-dir={env_dir}", "--disable-usage-stats"]
    subprocess.run(start, check=True, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(ray_bin), "stop", "--force"], capture_output=True, timeout=120)
        shutil.rmtree(env_dir, ignore_errors=True)


def _kill_one_task_worker(stop: threading.Event, killed: list[int]) -> None:
    """Kill -9 the first Ray worker seen running a video task."""
    while not stop.is_set() and not killed:
        found = subprocess.run(["pgrep", "-f", "ray::process_video"], capture_output=True, text=True).stdout
        pids = [int(p) for p in found.split()]
        if pids:
            time.sleep(0.5)  # mid-video
            subprocess.run(["kill", "-9", str(pids[0])], capture_output=True)
            killed.append(pids[0])
        time.sleep(0.1)


def _batch_on_ray(videos, out: Path, address: str) -> subprocess.CompletedProcess:
    args = ["batch", *map(str, videos), "--out-dir", str(out), "--ray", address, "--no-video"]
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_batch_on_a_local_ray_cluster_survives_a_killed_worker(videos, tmp_path, ray_cluster):
    out = tmp_path / "out"
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one_task_worker, args=(stop, killed), daemon=True)
    killer.start()
    proc = _batch_on_ray(videos, out, ray_cluster)
    stop.set()
    assert proc.returncode == 0, proc.stderr
    assert killed, "no Ray worker was caught running a video"
    summary = json.loads((out / "summary.json").read_text())
    assert [r["status"] for r in summary] == ["ok"] * 4 and all(r["frames"] == 25 for r in summary)
    again = _batch_on_ray(videos, out, ray_cluster)
    assert again.returncode == 0 and "0 done, 4 skipped" in again.stderr, again.stderr


# ------------------------------------------------------------------ many streams, one detector


def test_multi_stream_tracks_equal_single_runs(videos, tmp_path):
    config = load_config(None, ["detector.threads=1"])
    detector = make_detector("builtin", threads=1)
    summaries, stats, _ = run_multi(config, detector, list(videos), tmp_path / "multi", video=False)
    assert [s.frames for s in summaries] == [25] * 4 and not any(s.error for s in summaries)
    assert stats.mean_batch > 1.5  # frames of several streams share a forward pass
    for video, summary in zip(videos, summaries, strict=True):
        with Pipeline(config, detector) as pipe:
            pipe.run(video, None, tmp_path / "single.jsonl")
        assert Path(summary.tracks_out).read_text() == (tmp_path / "single.jsonl").read_text()


def test_a_dead_stream_does_not_stop_the_others(videos, tmp_path):
    code = CliRunner().invoke(
        main,
        ["multi", str(videos[0]), str(tmp_path / "gone.mp4"), str(videos[1]), "--out-dir", str(tmp_path)],
    )
    assert code.exit_code == 1
    assert "gone.mp4: 0 frames" in code.output and "input not found" in code.output
    assert code.output.count(": 25 frames") == 2


def test_pipeline_streams_api(videos):
    config = load_config()
    with Pipeline(config) as pipe:
        seen = {}
        for result in pipe.streams(videos[:2]):
            seen.setdefault(result.stream, []).append(result.frame.index)
    assert seen == {0: list(range(25)), 1: list(range(25))}


def test_a_slow_stream_does_not_hold_up_a_fast_one():
    from tracker.source import Frame

    def frames(count: int, delay: float):
        image = np.full((120, 160, 3), 100, np.uint8)
        for i in range(count):
            time.sleep(delay)
            yield Frame(i, i / 10.0, image)

    class Nothing:
        class_names = ("car",)

        def detect(self, batch):
            return [Detections.empty() for _ in batch]

    config = load_config(None, ["camera_motion.enabled=false"])
    order = [r.stream for r in MultiStream(config, Nothing(), [frames(10, 0.3), frames(40, 0.0)])]
    fast_done = max(i for i, s in enumerate(order) if s == 1)
    slow_frames_before = sum(1 for s in order[:fast_done] if s == 0)
    assert order.count(0) == 10 and order.count(1) == 40
    assert slow_frames_before <= 2  # the fast stream finished while the slow one had barely begun
