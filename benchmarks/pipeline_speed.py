"""Pipeline overlap: frames/s of each stage alone and of the whole streaming pipeline.

    python benchmarks/pipeline_speed.py [--video FILE ...] [--detector SPEC] [--repeats 7] [--json FILE]

By default: the synthetic sample (built-in detector) and the real highway clip in ../shared
(YOLOX-nano through onnxruntime, when present). The pipeline overlaps its stages, so its
frames/s should approach the slowest stage's; the ratio is printed.
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

from tracker.camera import CameraMotion  # noqa: E402
from tracker.config import load_config  # noqa: E402
from tracker.detect import detector_from_config  # noqa: E402
from tracker.pipeline import Pipeline  # noqa: E402
from tracker.render import Renderer  # noqa: E402
from tracker.sink import video_writer  # noqa: E402
from tracker.source import open_source  # noqa: E402
from tracker.stages import detector_batch_size  # noqa: E402
from tracker.tracks import Tracker  # noqa: E402

SAMPLE = ROOT / "samples" / "synthetic.mp4"
HIGHWAY = ROOT.parent / "shared" / "data" / "real" / "highway_720p.mp4"
YOLOX = ROOT.parent / "shared" / "models" / "yolox_nano.onnx"


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(video: Path, detector_spec: str, repeats: int, overrides: list[str]) -> dict:
    """Each stage alone and the whole pipeline, timed in turn within every round, fastest of
    ``repeats`` rounds each: the machine is shared, and taking turns lets every measurement see
    the same spells of noise (timing all of one, then all of another, would not)."""
    config = load_config(None, [f"detector.kind={detector_spec}", *overrides])
    detector = detector_from_config(config)  # --set detector.* applies too
    frames = list(open_source(video))
    n = len(frames)
    batch = detector_batch_size(detector, config.run)
    dets = [d for i in range(0, n, batch) for d in detector.detect(frames[i : i + batch])]
    tracker = Tracker(config.tracker, detector.class_names)
    tracks = [tracker.update(d, f.time_s) for f, d in zip(frames, dets, strict=True)]
    renderer = Renderer(config.render, detector.class_names)
    images = [renderer.annotate(f.image, t) for f, t in zip(frames, tracks, strict=True)]

    def decode_all():
        decoded = list(open_source(video))
        # Camera-motion estimation runs in the decoding thread of the pipeline: count it there.
        if config.camera_motion.enabled:
            camera = CameraMotion()
            for f in decoded:
                camera.update(f.image)

    def detect_all():
        for i in range(0, n, batch):
            detector.detect(frames[i : i + batch])

    def track_all():
        tracker = Tracker(config.tracker, detector.class_names)
        for f, d in zip(frames, dets, strict=True):
            tracker.update(d, f.time_s)

    def render_all():
        for f, t in zip(frames, tracks, strict=True):
            renderer.annotate(f.image, t)

    with tempfile.TemporaryDirectory() as tmp:

        def encode():
            # Alone, the encoder runs with the same settings and thread budget as in the pipeline.
            writer = video_writer(Path(tmp) / "enc.mp4", 25.0, config.encoder)
            for image in images:
                writer.write(image)
            writer.close()

        def whole():
            with Pipeline(config, detector) as pipeline:
                pipeline.run(video, Path(tmp) / "out.mp4")

        work = {
            "decode+camera": decode_all,
            "detect": detect_all,
            "track": track_all,
            "render": render_all,
            "encode": encode,
            "pipeline": whole,
        }
        best = dict.fromkeys(work, float("inf"))
        for _ in range(repeats):
            for name, fn in work.items():
                best[name] = min(best[name], seconds(fn))
    stages = {name: n / elapsed for name, elapsed in best.items() if name != "pipeline"}
    slowest = min(stages.values())
    whole_fps = n / best["pipeline"]
    # However well the stages overlap, the pipeline cannot run faster than the cores can do
    # all of their work: cores / (sum of the stages' seconds per frame).
    cores = os.cpu_count() or 1
    ceiling = min(slowest, cores / sum(1.0 / v for v in stages.values()))
    return {
        "frames": n,
        "stages_fps": {k: round(v, 1) for k, v in stages.items()},
        "pipeline_fps": round(whole_fps, 1),
        "ratio_to_slowest": round(whole_fps / slowest, 3),
        "cpu_ceiling_ratio": round(ceiling / slowest, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, action="append")
    parser.add_argument("--detector", help="detector for --video (default: builtin)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs = [(v, args.detector or "builtin") for v in args.video] if args.video else []
    if not runs:
        runs.append((SAMPLE, "builtin"))
        if HIGHWAY.is_file() and YOLOX.is_file():
            runs.append((HIGHWAY, f"onnx:{YOLOX}"))
        else:
            print(f"skipping the highway clip: {HIGHWAY} or {YOLOX} not found", file=sys.stderr)
    report = {}
    for video, spec in runs:
        result = measure(video, spec, args.repeats, args.overrides)
        report[video.name] = {"detector": spec.split("/")[-1], **result}
        stages = ", ".join(f"{k} {v:.1f}" for k, v in result["stages_fps"].items())
        name = spec.split("/")[-1]
        print(f"{video.name} ({result['frames']} frames, {name}): stages alone: {stages} frames/s")
        whole, ratio = result["pipeline_fps"], result["ratio_to_slowest"]
        print(
            f"    whole pipeline {whole:.1f} frames/s = {ratio:.2f} x slowest stage "
            f"(ceiling with {os.cpu_count()} cores: {result['cpu_ceiling_ratio']:.2f} x)"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
