"""Camera-motion compensation: accuracy on panning synthetic videos, and its cost at 720p.

    python benchmarks/camera_motion.py [--seeds 0-5] [--frames 150] [--pan 250] [--json FILE]

Accuracy: synthetic videos whose camera pans fast and changes direction (``--pan`` px/s at
most, with a strong random walk), tracked by the whole pipeline with the same built-in detector,
once without and once with compensation (``camera_motion.enabled``). HOTA and id switches
from TrackEval, over all videos together.

Cost: milliseconds per frame of ``CameraMotion.update`` on 1280x720 frames (the real highway clip
from ../shared when present, and a 1280x720 panning synthetic video), median of each of three
passes, best pass reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.synthetic_hota import seeds  # noqa: E402
from tracker.camera import CameraMotion  # noqa: E402
from tracker.config import load_config, preset_path  # noqa: E402
from tracker.eval.metrics import evaluate_mot  # noqa: E402
from tracker.eval.synthetic import SynthConfig, SyntheticVideo, write_synthetic  # noqa: E402
from tracker.eval.video import evaluate_videos  # noqa: E402
from tracker.formats import read_mot  # noqa: E402

HIGHWAY = ROOT.parent / "shared" / "data" / "real" / "highway_720p.mp4"


def panning(seed: int, frames: int, pan: float, width: int = 640, height: int = 360) -> SynthConfig:
    return SynthConfig(
        width=width,
        height=height,
        fps=15.0,
        num_frames=frames,
        max_objects=6,
        pan_speed=pan,
        pan_jitter=0.3,
        seed=seed,
    )


def accuracy(seed_list: list[int], frames: int, pan: float, tmp: Path) -> dict:
    pairs = []
    for seed in seed_list:
        video, gt = tmp / f"pan-{seed:03d}.mp4", tmp / f"pan-{seed:03d}_gt.txt"
        write_synthetic(panning(seed, frames, pan), video, gt)
        pairs.append((video, gt))
    lengths = [(v.stem, int(read_mot(g, "gt").frame.max()) + 1) for v, g in pairs]
    report = {}
    for name, on in (("without", False), ("with", True)):
        # The built-in detector: the default one (YOLOX, COCO) sees nothing in synthetic boxes.
        sets = ["detector.kind=builtin", f"camera_motion.enabled={str(on).lower()}"]
        config = load_config(preset_path("default"), sets)
        per_video = {}
        for video, gt in pairs:
            metrics, _ = evaluate_videos([(video, gt)], config, tmp / name)
            per_video[video.stem] = metrics["COMBINED"]["object"]
        combined = evaluate_mot(dict((v.stem, g) for v, g in pairs), tmp / name, lengths)["COMBINED"]
        c = combined["pedestrian"]
        report[name] = {
            "HOTA": c.HOTA,
            "AssA": c.AssA,
            "DetA": c.DetA,
            "IDSW": c.IDSW,
            "per_video_HOTA": {k: round(m.HOTA, 2) for k, m in per_video.items()},
            "per_video_IDSW": {k: m.IDSW for k, m in per_video.items()},
        }
        print(
            f"{name:8s} compensation: HOTA {c.HOTA:6.2f}  AssA {c.AssA:6.2f}  "
            f"DetA {c.DetA:6.2f}  IDSW {c.IDSW}"
        )
    return report


def _frames_highway(n: int) -> list[np.ndarray]:
    from tracker.source import open_source

    out = []
    for frame in open_source(str(HIGHWAY)):
        out.append(frame.image)
        if len(out) >= n:
            break
    return out


def cost_ms(frames: list[np.ndarray], passes: int = 3) -> float:
    best = float("inf")
    for _ in range(passes):
        camera = CameraMotion()
        times = []
        for image in frames:
            start = time.perf_counter()
            camera.update(image)
            times.append(time.perf_counter() - start)
        best = min(best, float(np.median(times[1:])) * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds, default=seeds("0-5"))
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--pan", type=float, default=250.0, help="Most camera pan speed, px/s.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report: dict = {"seeds": args.seeds, "pan_px_s": args.pan}
    synthetic = [image for image, _ in SyntheticVideo(panning(0, 100, args.pan, 1280, 720)).frames()]
    report["cost_ms_synthetic_720p"] = cost_ms(synthetic)
    print(f"cost at 1280x720, synthetic: {report['cost_ms_synthetic_720p']:.2f} ms/frame")
    if HIGHWAY.is_file():
        report["cost_ms_highway_720p"] = cost_ms(_frames_highway(100))
        print(f"cost at 1280x720, highway clip: {report['cost_ms_highway_720p']:.2f} ms/frame")
    with tempfile.TemporaryDirectory() as tmp:
        report.update(accuracy(args.seeds, args.frames, args.pan, Path(tmp)))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
