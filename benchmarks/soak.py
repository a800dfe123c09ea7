"""Soak test: the whole pipeline for N frames; resident memory and frames/s over time.

    python benchmarks/soak.py --frames 1000000 [--every 10000] [--video] [--json F] [--plot runs/soak.png]

Source: an endless synthetic scene generated on the fly (small frames, boxes that enter, move,
and leave, so tracks are born and removed all the time). Detector: a cheap one that reports the
scene's boxes with jitter and misses (the point is the pipeline, not detection). Stages: source
thread, camera-motion estimation, detector thread, tracker, track file (MOT); with ``--video`` the
annotated H.264 video too (rendering and encoding dominate then).

Figures: resident set size (VmRSS) and frames/s of each window of ``--every`` frames. The verdict
compares memory at the end against memory after the first 10,000 frames (bar: < 5 % growth) and
frames/s of the last window against the first (bar: within 10 %).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.config import load_config  # noqa: E402
from tracker.pipeline import Pipeline  # noqa: E402
from tracker.source import Frame  # noqa: E402
from tracker.structures import Detections  # noqa: E402

WIDTH, HEIGHT, FPS = 160, 120, 30.0


class EndlessScene:
    """Frames of boxes drifting across a noisy background; the truth of the recent frames is
    kept (bounded) for the detector to read."""

    def __init__(self, frames: int, seed: int = 0) -> None:
        self.frames = frames
        self.rng = np.random.default_rng(seed)
        self.truth: dict[int, np.ndarray] = {}
        self.background = self.rng.integers(90, 140, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        self.boxes = np.zeros((0, 4))
        self.velocity = np.zeros((0, 2))

    def _step(self) -> None:
        self.boxes[:, [0, 2]] += self.velocity[:, :1]
        self.boxes[:, [1, 3]] += self.velocity[:, 1:]
        inside = (
            (self.boxes[:, 2] > 0)
            & (self.boxes[:, 0] < WIDTH)
            & (self.boxes[:, 3] > 0)
            & (self.boxes[:, 1] < HEIGHT)
        )
        self.boxes, self.velocity = self.boxes[inside], self.velocity[inside]
        if len(self.boxes) < 6 and self.rng.uniform() < 0.1:  # a new object from the left or right
            y, size = self.rng.uniform(10, HEIGHT - 30), self.rng.uniform(10, 25)
            left = self.rng.uniform() < 0.5
            x = -size + 1 if left else WIDTH - 1
            box = np.array([[x, y, x + size, y + size]])
            speed = self.rng.uniform(0.5, 2.0) * (1 if left else -1)
            self.boxes = np.concatenate([self.boxes, box])
            self.velocity = np.concatenate([self.velocity, [[speed, self.rng.uniform(-0.2, 0.2)]]])

    def __iter__(self):
        for index in range(self.frames):
            self._step()
            image = self.background.copy()
            for x1, y1, x2, y2 in self.boxes.astype(int):
                image[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = (40, 40, 220)
            self.truth[index] = self.boxes.copy()
            self.truth.pop(index - 64, None)  # bounded: the detector is never 64 frames behind
            yield Frame(index, index / FPS, image)


class JitterDetector:
    """The scene's boxes with 1 px jitter and 5 % misses."""

    class_names = ("car",)

    def __init__(self, scene: EndlessScene) -> None:
        self.scene = scene
        self.rng = np.random.default_rng(1)

    def detect(self, frames):
        out = []
        for frame in frames:
            boxes = self.scene.truth.get(frame.index, np.zeros((0, 4)))
            keep = self.rng.uniform(size=len(boxes)) > 0.05
            boxes = boxes[keep] + self.rng.normal(0, 1.0, (int(keep.sum()), 4))
            boxes = np.clip(boxes, 0, [WIDTH, HEIGHT, WIDTH, HEIGHT])
            ok = (boxes[:, 2] - boxes[:, 0] > 2) & (boxes[:, 3] - boxes[:, 1] > 2)
            boxes = boxes[ok]
            out.append(Detections(boxes, np.full(len(boxes), 0.9), np.zeros(len(boxes))))
        return out


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=10_000, help="Frames per measurement window.")
    parser.add_argument("--video", action="store_true", help="Also render and encode the video.")
    parser.add_argument(
        "--no-camera-motion", action="store_true", help="Skip camera-motion estimation (its ~1.5 ms a frame)."
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, default=Path("runs/soak.png"), help="PNG of the curves.")
    args = parser.parse_args()

    scene = EndlessScene(args.frames)
    overrides = ["tracker.lifecycle.min_hits=2"]
    if args.no_camera_motion:
        overrides.append("camera_motion.enabled=false")
    config = load_config(None, overrides)
    samples: list[dict] = []
    window = deque(maxlen=1)
    window.append(time.perf_counter())

    def on_frame(result) -> None:
        n = result.frame.index + 1
        if n % args.every == 0:
            now = time.perf_counter()
            fps = args.every / (now - window[0])
            window.append(now)
            samples.append({"frame": n, "rss_mb": round(rss_mb(), 2), "fps": round(fps, 1)})
            print(f"frame {n:>9,}: RSS {samples[-1]['rss_mb']:8.1f} MB, {fps:7.1f} frames/s", flush=True)

    with tempfile.TemporaryDirectory() as tmp, Pipeline(config, JitterDetector(scene)) as pipe:
        video = Path(tmp) / "soak.mp4" if args.video else None
        summary = pipe.run(scene, video, Path(tmp) / "soak.txt", fps=FPS, on_frame=on_frame)
    report = {
        "frames": summary.frames,
        "tracks": summary.tracks,
        "video": args.video,
        "camera_motion": not args.no_camera_motion,
        "samples": samples,
    }
    if len(samples) >= 2:
        base = next((s for s in samples if s["frame"] >= 10_000), samples[0])
        growth = samples[-1]["rss_mb"] / base["rss_mb"] - 1
        speed = samples[-1]["fps"] / samples[0]["fps"]
        report.update(rss_growth_after_10k=round(growth, 4), end_to_start_fps=round(speed, 3))
        print(
            f"{summary.frames:,} frames, {summary.tracks:,} tracks: RSS {base['rss_mb']:.1f} MB at frame "
            f"{base['frame']:,} -> {samples[-1]['rss_mb']:.1f} MB at the end ({growth:+.2%}); "
            f"frames/s end/start {speed:.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if samples:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot(samples, args.plot)
        print(f"plot: {args.plot}")


def plot(samples: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = [s["frame"] for s in samples]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.plot(frames, [s["rss_mb"] for s in samples])
    top.set(ylabel="resident memory (MB)", title="Soak: whole pipeline, synthetic endless source")
    bottom.plot(frames, [s["fps"] for s in samples])
    bottom.set(xlabel="frame", ylabel="frames/s (window)")
    for axis, key in ((top, "rss_mb"), (bottom, "fps")):
        axis.set_ylim(0, 1.2 * max(s[key] for s in samples))
        axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
