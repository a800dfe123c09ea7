"""Tracks on the real clips against the hand-labelled frames: what a user sees in the video.

    python benchmarks/real_tracks.py [--set KEY=VALUE ...] [--variant "KEY=V;KEY=V" ...] [--json FILE]

The default detector runs once over every frame of both clips (configs/default.yaml plus
``--set``); the tracker then runs over the cached detections for the default settings and for
each ``--variant``, with camera-motion compensation as the pipeline runs it (warps estimated
once per frame; ``camera_motion.enabled=false`` in a variant turns it off). On the labelled
frames (benchmarks/real_labels.json) the reported tracks are scored like detections in
benchmarks/detector_speed.py: the share of vehicles >= 25 px tall shown as a track at IoU 0.5,
and the share of shown vehicle tracks that are real. The number of ids per clip is printed
beside them (each clip has about a dozen vehicles in view at a time).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import detector_speed as ds  # noqa: E402

from tracker.camera import CameraMotion  # noqa: E402
from tracker.config import load_config, preset_path  # noqa: E402
from tracker.detect import detector_from_config  # noqa: E402
from tracker.source import open_source  # noqa: E402
from tracker.tracks import Tracker  # noqa: E402


def score_variant(cache, labels, class_names, overrides: list[str]) -> dict:
    config = load_config(preset_path("default"), overrides)
    found = total = false = shown = 0
    ids = {}
    for clip, frames in cache.items():
        tracker = Tracker(config.tracker, class_names)
        seen: set[int] = set()
        for frame, dets, warp in frames:
            size = (frame.image.shape[1], frame.image.shape[0])  # as the pipeline gives it
            tracks = tracker.update(
                dets, frame.time_s, warp if config.camera_motion.enabled else None, image_size=size
            )
            seen.update(tracks.id.tolist())
            if frame.index in labels[clip]:
                names = [class_names[c] for c in tracks.class_id]
                f, t, x, s = ds.score_frame(labels[clip][frame.index], tracks.xyxy, names, 25.0)
                found, total, false, shown = found + f, total + t, false + x, shown + s
        ids[clip] = len(seen)
    return {
        "recall": round(found / max(total, 1), 3),
        "precision": round(1 - false / max(shown, 1), 3),
        "ids": ids,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--labels", type=Path, default=ROOT / "benchmarks" / "real_labels.json")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--variant", action="append", default=[], help="tracker settings, ';'-separated")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    labels = ds.load_labels(args.labels)
    detector = detector_from_config(load_config(preset_path("default"), args.overrides))
    cache = {}
    for clip, name in ds.CLIPS.items():
        camera = CameraMotion()
        cache[clip] = [
            (f, detector.detect([f])[0], camera.update(f.image))
            for f in open_source(ds.SHARED / "data" / "real" / name)
        ]
    report = {}
    for variant in ["", *args.variant]:
        sets = [s for s in variant.split(";") if s]
        report[variant or "default"] = row = score_variant(cache, labels, detector.class_names, sets)
        print(f"{variant or 'default'}: vehicles shown as tracks {row['recall']:.3f}, "
              f"tracks real {row['precision']:.3f}, ids {row['ids']}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
