"""GPU check of the YOLOX detectors: frames/s on the highway clip in half precision, batches of 8.

    python benchmarks/detector_gpu.py [--batch 8] [--json FILE]

Runs the default detector (YOLOX-nano, whole frame + strip; weights from
$DRIVING_TRACKER_WEIGHTS, default ../shared/models) and YOLOX-s (random weights serve for speed)
on CUDA with torch, timing detection alone (decoded frames in memory, after a warm-up) and the
whole pipeline with the default config. Exits with a message where there is no CUDA device.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DRIVING_TRACKER_WEIGHTS", str(ROOT.parent / "shared" / "models"))
HIGHWAY = ROOT.parent / "shared" / "data" / "real" / "highway_720p.mp4"

import torch  # noqa: E402

from tracker.config import load_config, preset_path  # noqa: E402
from tracker.detect import detector_from_config  # noqa: E402
from tracker.pipeline import Pipeline  # noqa: E402
from tracker.source import open_source  # noqa: E402


def detect_fps(detector, frames, batch: int, rounds: int = 3) -> float:
    for i in range(0, min(len(frames), 2 * batch), batch):  # warm-up: cuDNN picks its kernels
        detector.detect(frames[i : i + batch])
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(0, len(frames), batch):
            detector.detect(frames[i : i + batch])
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return len(frames) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device here: this check needs a GPU")
    frames = list(open_source(HIGHWAY))
    report = {"gpu": torch.cuda.get_device_name(0), "batch": args.batch, "frames": len(frames)}
    sets = ["detector.device=cuda", f"run.batch_size={args.batch}"]
    for name, extra in (
        ("default (yolox-nano + strip)", []),
        ("yolox-s, random weights", ["detector.kind=yolox-s", "detector.weights=none"]),
    ):
        config = load_config(preset_path("default"), [*sets, *extra])
        detector = detector_from_config(config)
        fps = detect_fps(detector, frames, args.batch)
        with tempfile.TemporaryDirectory() as tmp, Pipeline(config, detector) as pipe:
            start = time.perf_counter()
            pipe.run(HIGHWAY, Path(tmp) / "out.mp4")
            whole = len(frames) / (time.perf_counter() - start)
        report[name] = {"detect_fps": round(fps, 1), "pipeline_fps": round(whole, 1), "half": detector.half}
        print(
            f"{name}: detection {fps:.1f} frames/s (half precision, batch {args.batch}), "
            f"pipeline {whole:.1f} frames/s"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
