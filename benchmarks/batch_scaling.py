"""Scaling: ``track batch`` with 1 and 2 local workers and on a local Ray cluster, and
``track multi`` with 1, 2 and 4 streams against the same streams run one by one.

    python benchmarks/batch_scaling.py [--videos 20] [--frames 60] [--no-ray] [--json FILE]

Videos: generated synthetic clips (320x240, 15 fps, built-in detector, videos and tracks
written). Batch figures are wall-clock videos/s and frames/s of the whole command (worker start
included), and the check that the track files of 1 and 2 workers are identical. Ray: a head node
started on 127.0.0.1 with as many CPUs as the machine, stopped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.config import load_config  # noqa: E402
from tracker.detect import make_detector  # noqa: E402
from tracker.eval.synthetic import SynthConfig, write_synthetic  # noqa: E402
from tracker.multi import run_multi  # noqa: E402
from tracker.pipeline import Pipeline  # noqa: E402

TRACK = [sys.executable, "-m", "tracker.cli"]


def make_videos(folder: Path, count: int, frames: int) -> list[Path]:
    out = []
    for seed in range(count):
        video = folder / f"clip-{seed:02d}.mp4"
        write_synthetic(
            SynthConfig(width=320, height=240, fps=15, num_frames=frames, seed=500 + seed),
            video,
            folder / f"gt{seed}.txt",
        )
        out.append(video)
    return out


def timed_batch(videos: list[Path], out: Path, extra: list[str]) -> dict:
    start = time.perf_counter()
    proc = subprocess.run(
        [*TRACK, "batch", *map(str, videos), "--out-dir", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    rows = json.loads((out / "summary.json").read_text())
    frames = sum(r["frames"] for r in rows)
    return {
        "videos": len(rows),
        "wall_s": round(wall, 2),
        "videos_per_s": round(len(rows) / wall, 3),
        "frames_per_s": round(frames / wall, 1),
    }


def track_files(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in out.glob("*.jsonl") if p.name != "manifest.jsonl"}


def ray_cluster_run(videos: list[Path], out: Path) -> dict:
    ray = str(Path(sys.executable).parent / "ray")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    port = "6391"
    subprocess.run(
        [
            ray,
            "start",
            "--head",
            f"--port={port}",
            f"--num-cpus={os.cpu_count()}",
            "--include-dashboard=false",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
        ],
        check=True,
        capture_output=True,
    )
    try:
        return timed_batch(videos, out, ["--ray", f"127.0.0.1:{port}"])
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True)
        shutil.rmtree(temp, ignore_errors=True)


def multi_streams(videos: list[Path], counts: tuple[int, ...], tmp: Path) -> dict:
    config = load_config(None, ["detector.threads=0"])
    detector = make_detector("builtin")
    out = {}
    for n in counts:
        chosen = videos[:n]
        start = time.perf_counter()
        for i, video in enumerate(chosen):
            with Pipeline(config, detector) as pipe:
                pipe.run(video, tmp / f"single-{n}-{i}.mp4", tmp / f"single-{n}-{i}.jsonl")
        alone = time.perf_counter() - start
        summaries, stats, together = run_multi(config, detector, chosen, tmp / f"multi-{n}")
        frames = sum(s.frames for s in summaries)
        out[str(n)] = {
            "frames": frames,
            "one_by_one_fps": round(frames / alone, 1),
            "multi_fps": round(frames / together, 1),
            "speedup": round(alone / together, 3),
            "frames_per_detector_pass": round(stats.mean_batch, 2),
        }
        print(
            f"multi {n} streams: {frames / together:.1f} frames/s together "
            f"vs {frames / alone:.1f} one by one "
            f"({alone / together:.2f}x; {stats.mean_batch:.1f} frames per detector pass)",
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report: dict = {"videos": args.videos, "frames_per_video": args.frames, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        videos = make_videos(tmp / "in", args.videos, args.frames)
        for workers in (1, 2):
            report[f"workers_{workers}"] = timed_batch(
                videos, tmp / f"w{workers}", ["--workers", str(workers)]
            )
            print(f"batch --workers {workers}: {report[f'workers_{workers}']}", flush=True)
        report["speedup_2_over_1"] = round(
            report["workers_2"]["videos_per_s"] / report["workers_1"]["videos_per_s"], 3
        )
        report["identical_tracks"] = track_files(tmp / "w1") == track_files(tmp / "w2")
        print(
            f"2 workers / 1 worker: {report['speedup_2_over_1']}x; "
            f"identical track files: {report['identical_tracks']}"
        )
        if not args.no_ray:
            report["ray"] = ray_cluster_run(videos, tmp / "ray")
            print(f"batch --ray (local cluster, {os.cpu_count()} CPUs): {report['ray']}", flush=True)
        report["multi"] = multi_streams(videos, (1, 2, 4), tmp)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
