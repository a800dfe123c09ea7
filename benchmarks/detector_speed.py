"""Detector candidates on real driving frames: speed and recall/precision against hand labels.

    python benchmarks/detector_speed.py [--labels benchmarks/real_labels.json] [--threads 1]
        [--candidates default,nano416,...] [--json FILE]

For each candidate (model, input size, tiling): milliseconds per frame on this CPU at the two
real clips' sizes (1242x374 urban, 1280x720 highway; median over the labelled frames after a
warm-up, ``--threads`` CPU threads), and on the labelled frames of both clips recall and
precision at IoU 0.5 for vehicles at least ``--min-height`` px tall (car, truck, bus, motorcycle,
bicycle: a vehicle found under another vehicle class counts), at each of ``--scores``. A
detection counts as false only if it is a vehicle at least that tall and overlaps no labelled
vehicle of any size; smaller detections are neither rewarded nor penalised.

Needs ../shared (the clips and yolox_nano.onnx); ``DRIVING_TRACKER_WEIGHTS`` defaults to
../shared/models.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
os.environ.setdefault("DRIVING_TRACKER_WEIGHTS", str(SHARED / "models"))

from scipy.optimize import linear_sum_assignment  # noqa: E402

from tracker.associate import iou_matrix  # noqa: E402
from tracker.config import load_config, preset_path  # noqa: E402
from tracker.detect import detector_from_config  # noqa: E402
from tracker.source import open_source  # noqa: E402

VEHICLES = ("car", "truck", "bus", "motorcycle", "bicycle")
CLIPS = {"urban": "urban_kitti_raw_10fps.mp4", "highway": "highway_720p.mp4"}


def nano(input_size: int, **more) -> list[str]:
    """Overrides for YOLOX-nano at ``input_size``: no strip, no tiles, unless ``more`` says."""
    settings = {
        "kind": "yolox-nano",
        "input_size": input_size,
        "band_size": 0,
        "tile_size": 0,
        "score_threshold": 0.1,
    }
    settings.update(more)
    return [f"detector.{k}={v}" for k, v in settings.items()]


STRIP = "[0.35,0.75]"  # the band of rows around the horizon of a forward-facing camera
NARROW = "[0.4,0.7]"
MID = "[0.35,0.7]"
# name -> detector config overrides. ``default`` is whatever configs/default.yaml says.
CANDIDATES = {
    "onnx416": ["detector.kind=onnx:" + str(SHARED / "models" / "yolox_nano.onnx")],
    "nano416": nano(416),
    "nano640": nano(640),
    "nano832": nano(832),
    "nano960": nano(960),
    "nano_native": nano(0),
    "nano1600": nano(1600),
    "nano416+tiles416": nano(416, tile_size=416),
    "nano416+tiles320band": nano(416, tile_size=320, tile_band="[0.3,0.8]"),
    "nano416+strip1280": nano(416, band_size=1280, tile_band=STRIP),
    "nano640+strip1280": nano(640, band_size=1280, tile_band=STRIP),
    "nano416+strip1600": nano(416, band_size=1600, tile_band=STRIP),
    "nano416+strip1920": nano(416, band_size=1920, tile_band=STRIP),
    "nano640+strip1920": nano(640, band_size=1920, tile_band=STRIP),
    "nano416+strip2560": nano(416, band_size=2560, tile_band=STRIP),
    "nano_native+strip1920": nano(0, band_size=1920, tile_band=STRIP),
    "nano416+strip1600narrow": nano(416, band_size=1600, tile_band=NARROW),
    "nano416+strip1920narrow": nano(416, band_size=1920, tile_band=NARROW),
    "nano416+strip1760": nano(416, band_size=1760, tile_band=STRIP),
    "nano416+strip1920mid": nano(416, band_size=1920, tile_band=MID),
    "default": [],
}


def load_labels(path: Path) -> dict[str, dict[int, list[dict]]]:
    data = json.loads(path.read_text())
    return {
        clip: {int(k): v for k, v in data["videos"][name]["frames"].items()}
        for clip, name in CLIPS.items()
        if name in data["videos"]
    }


def frames_of(clip: str, wanted: set[int]):
    return [f for f in open_source(SHARED / "data" / "real" / CLIPS[clip]) if f.index in wanted]


def match_frame(gt: list[dict], xyxy: np.ndarray, names: list[str]):
    """Heights of the labelled vehicles and whether each was found (IoU >= 0.5, one to one),
    and heights of the vehicle detections and whether each found a labelled vehicle."""
    g = np.array([b["xyxy"] for b in gt if b["class"] in VEHICLES], np.float64).reshape(-1, 4)
    is_vehicle = np.array([n in VEHICLES for n in names], bool)
    d = xyxy[is_vehicle] if len(xyxy) else np.zeros((0, 4))
    matched_g, matched_d = np.zeros(len(g), bool), np.zeros(len(d), bool)
    if len(g) and len(d):
        iou = iou_matrix(d.astype(np.float32), g.astype(np.float32))
        rows, cols = linear_sum_assignment(-iou)
        ok = iou[rows, cols] >= 0.5
        matched_d[rows[ok]], matched_g[cols[ok]] = True, True
    return g[:, 3] - g[:, 1], matched_g, d[:, 3] - d[:, 1], matched_d


def score_frame(gt: list[dict], xyxy: np.ndarray, names: list[str], min_h: float, max_h: float = np.inf):
    """(true vehicles found, true vehicles, false detections, detections), counting labelled
    vehicles and detections from ``min_h`` to ``max_h`` px tall, as the module docstring says."""
    g_h, g_ok, d_h, d_ok = match_frame(gt, xyxy, names)
    g_in, d_in = (g_h >= min_h) & (g_h < max_h), (d_h >= min_h) & (d_h < max_h)
    return int((g_ok & g_in).sum()), int(g_in.sum()), int((~d_ok & d_in).sum()), int(d_in.sum())


def bands(min_h: float) -> dict[str, tuple[float, float]]:
    return {"all": (min_h, np.inf), f"{min_h:g}-50": (min_h, 50), "50-100": (50, 100), "100+": (100, np.inf)}


def rates(c: list[int]) -> dict:
    return {
        "recall": round(c[0] / max(c[1], 1), 3), "precision": round(1 - c[2] / max(c[3], 1), 3),
        "found": c[0], "vehicles": c[1], "false": c[2], "detections": c[3],
    }  # fmt: skip


def run_candidate(name: str, overrides: list[str], labels, frames, threads: int, scores, min_h) -> dict:
    config = load_config(None, [*overrides, f"detector.threads={threads}"])
    if name == "default":
        config = load_config(preset_path("default"), [f"detector.threads={threads}"])
    detector = detector_from_config(config)
    out: dict = {"name": name, "detector": config.detector.kind, "settings": overrides}
    counts = {(s, b, c): [0, 0, 0, 0] for s in scores for b in bands(min_h) for c in ("both", *frames)}
    for clip, clip_frames in frames.items():
        detector.detect(clip_frames[:1])  # warm-up (first-call allocations)
        times = []
        for f in clip_frames:
            start = time.perf_counter()
            dets = detector.detect([f])[0]
            times.append((time.perf_counter() - start) * 1000)
            names = np.array([detector.class_names[c] for c in dets.class_id], dtype=object)
            for s in scores:
                keep = dets.score >= s
                for band, (lo, hi) in bands(min_h).items():
                    got = score_frame(labels[clip][f.index], dets.xyxy[keep], list(names[keep]), lo, hi)
                    for where in ("both", clip):
                        counts[s, band, where] = [
                            a + b for a, b in zip(counts[s, band, where], got, strict=True)
                        ]
        out[f"ms_{clip}"] = round(statistics.median(times), 1)
    out["by_score"] = {str(s): rates(counts[s, "all", "both"]) for s in scores}
    out["by_band"] = {str(s): {b: rates(counts[s, b, "both"]) for b in bands(min_h)} for s in scores}
    out["by_clip"] = {str(s): {c: rates(counts[s, "all", c]) for c in frames} for s in scores}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--labels", type=Path, default=ROOT / "benchmarks" / "real_labels.json")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--scores", default="0.1,0.25,0.4", help="score thresholds to report")
    parser.add_argument("--min-height", type=float, default=25.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not (SHARED / "data" / "real").is_dir():
        sys.exit(f"needs {SHARED}/data/real (the real clips)")
    labels = load_labels(args.labels)
    frames = {clip: frames_of(clip, set(labels[clip])) for clip in labels}
    scores = [float(s) for s in args.scores.split(",")]
    rows = []
    for name in args.candidates.split(","):
        row = run_candidate(name, CANDIDATES[name], labels, frames, args.threads, scores, args.min_height)
        rows.append(row)
        cells = " | ".join(f"{v['recall']:.3f} / {v['precision']:.3f}" for v in row["by_score"].values())
        print(f"| {name} | {row.get('ms_urban', '-')} | {row.get('ms_highway', '-')} | {cells} |", flush=True)
    for row in rows:  # recall / precision per size band at the detectors' own floor and above
        s = str(scores[len(scores) // 2])
        per_band = ", ".join(
            f"{b} {v['recall']:.2f}/{v['precision']:.2f}" for b, v in row["by_band"][s].items()
        )
        per_clip = ", ".join(
            f"{c} {v['recall']:.2f}/{v['precision']:.2f}" for c, v in row["by_clip"][s].items()
        )
        print(f"{row['name']} at {s}: {per_band}; {per_clip}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"threads": args.threads, "min_height": args.min_height, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
