"""Tracker-only speed: association + motion + lifecycle, no file I/O.

    python benchmarks/tracker_speed.py [--data ../shared/data/kitti] [--json FILE] [--set KEY=VALUE ...]

Reports frames/s on the KITTI dev split (car detections, one process) and on synthetic frames
with 10, 100 and 1000 objects, to show how cost grows with the number of objects. Each figure is
the best of ``--repeats`` runs (the machine is shared; the best run is the least disturbed).
``--set tracker.motion.kind=lstm`` times the learned motion model instead of the Kalman filter;
with ``--vs-kalman`` only the KITTI figure is timed, in turns against the same config with
``tracker.motion.kind=kalman`` (one run after the other, ``--repeats`` times), and the median
ratio of the turns is printed: the machine's drift then affects both alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker import Detections, Tracker, load_config  # noqa: E402
from tracker.config_tracker import ScoreMap  # noqa: E402
from tracker.formats import KITTI_CLASSES, KITTI_IMAGE_SIZE  # noqa: E402


def best_fps(sequences: list[list[Detections]], config, fps: float, repeats: int) -> float:
    frames = sum(len(s) for s in sequences)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for seq in sequences:
            tracker = Tracker(config, KITTI_CLASSES)
            for i, dets in enumerate(seq):
                tracker.update(dets, time_s=i / fps, image_size=KITTI_IMAGE_SIZE)
        best = min(best, time.perf_counter() - start)
    return frames / best


def kitti_car_sequences(data: Path) -> list[list[Detections]]:
    from tracker.eval.datasets import load_kitti

    dataset = load_kitti(data)
    car = KITTI_CLASSES.index("car")
    return [[d[d.class_id == car] for d in seq.frames] for seq in dataset.sequences]


def synthetic_sequence(num_objects: int, num_frames: int, seed: int = 0) -> list[Detections]:
    """Objects moving at constant velocity in a 1920x1080 frame, with jitter and 5 % misses."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(20, 60, (num_objects, 2))
    pos = rng.uniform(0, 1, (num_objects, 2)) * (np.array([1920, 1080]) - size)
    vel = rng.normal(0, 3, (num_objects, 2))
    frames = []
    for _ in range(num_frames):
        pos = np.clip(pos + vel, 0, np.array([1920, 1080]) - size)
        jitter = rng.normal(0, 1, (num_objects, 4))
        xyxy = np.concatenate([pos, pos + size], axis=1) + jitter
        keep = rng.uniform(size=num_objects) > 0.05
        score = rng.uniform(0.5, 1.0, num_objects)
        frames.append(Detections(xyxy[keep], score[keep], np.full(keep.sum(), KITTI_CLASSES.index("car"))))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kitti")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "kitti.yaml")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--vs-kalman", action="store_true", help="Also time kind=kalman, in turns.")
    args = parser.parse_args()

    config = load_config(args.config, args.overrides).tracker
    result: dict = {}
    if (args.data / "seqmap.txt").is_file():
        seqs = kitti_car_sequences(args.data)
        if args.vs_kalman:
            kalman = load_config(args.config, [*args.overrides, "tracker.motion.kind=kalman"]).tracker
            runs = [
                (best_fps(seqs, config, 10.0, 1), best_fps(seqs, kalman, 10.0, 1))
                for _ in range(args.repeats)
            ]
            result["kitti_car_fps"] = round(max(r[0] for r in runs), 1)
            result["kitti_car_fps_kalman"] = round(max(r[1] for r in runs), 1)
            result["ratio_to_kalman"] = round(float(np.median([a / b for a, b in runs])), 3)
        else:
            result["kitti_car_fps"] = round(best_fps(seqs, config, 10.0, args.repeats), 1)
        print(
            f"KITTI dev split, car detections ({sum(map(len, seqs))} frames): "
            f"{result['kitti_car_fps']:.0f} frames/s"
            + (
                f"; kalman {result['kitti_car_fps_kalman']:.0f} frames/s; median ratio of "
                f"{args.repeats} turns {result['ratio_to_kalman']:.3f}"
                if args.vs_kalman
                else ""
            )
        )
        if args.vs_kalman:  # the comparison is the KITTI figure alone
            if args.json:
                args.json.write_text(json.dumps(result, indent=2) + "\n")
            return
    else:
        print(f"skipping KITTI: no seqmap.txt in {args.data}", file=sys.stderr)
    result["objects_fps"] = {}
    # Synthetic scores are confidences already: the config's score maps (fitted on a detector's
    # raw scores) are left out, so that tracks are born as they would be from calibrated scores.
    unmapped = dataclasses.replace(
        config,
        score_map=ScoreMap(),
        per_class={k: dataclasses.replace(v, score_map=ScoreMap()) for k, v in config.per_class.items()},
    )
    for n, frames in ((10, 2000), (100, 500), (1000, 100)):
        fps = best_fps([synthetic_sequence(n, frames)], unmapped, 30.0, max(1, args.repeats // 2))
        result["objects_fps"][str(n)] = round(fps, 1)
        print(f"{n:5d} objects per frame: {fps:8.0f} frames/s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
