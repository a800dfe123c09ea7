"""Shared fixtures: a tiny KITTI-layout dataset with known answers, and paths to ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_KITTI = ROOT.parent / "shared" / "data" / "kitti"
SHARED_MODELS = ROOT.parent / "shared" / "models"

# Tests and CI find the detector weights in ../shared/models (DEVELOPERS: no download in tests);
# a value the caller set wins.
if (SHARED_MODELS / "yolox_nano.onnx").is_file():
    os.environ.setdefault("DRIVING_TRACKER_WEIGHTS", str(SHARED_MODELS))


def kitti_label_line(frame: int, track_id: int, kind: str, box) -> str:
    x1, y1, x2, y2 = box
    return f"{frame} {track_id} {kind} 0 0 -10 {x1:.2f} {y1:.2f} {x2:.2f} {y2:.2f} 1.5 1.6 3.9 0 0 10 0\n"


def pointrcnn_line(frame: int, type_id: int, box, raw_score: float) -> str:
    x1, y1, x2, y2 = box
    return f"{frame},{type_id},{x1:.4f},{y1:.4f},{x2:.4f},{y2:.4f},{raw_score:.4f},1.5,1.6,3.9,0,0,10,0,0\n"


def two_cars(num_frames: int = 30) -> dict[int, list[tuple[float, float, float, float]]]:
    """Two cars crossing the image at constant speed, far enough apart never to overlap."""
    out = {}
    for f in range(num_frames):
        out[f] = [
            (100 + 8 * f, 150, 180 + 8 * f, 210),
            (900 - 6 * f, 170, 1000 - 6 * f, 240),
        ]
    return out


@pytest.fixture
def tiny_kitti(tmp_path: Path) -> Path:
    """One sequence ``0000`` of 30 frames: two cars, perfect detections (raw score 6)."""
    root = tmp_path / "kitti"
    (root / "label_02").mkdir(parents=True)
    for cls in ("car", "pedestrian", "cyclist"):
        (root / "det_pointrcnn" / cls).mkdir(parents=True)
    boxes = two_cars()
    labels, dets = [], []
    for f, frame_boxes in boxes.items():
        for i, box in enumerate(frame_boxes):
            labels.append(kitti_label_line(f, i, "Car", box))
            dets.append(pointrcnn_line(f, 2, box, 6.0))
    (root / "label_02" / "0000.txt").write_text("".join(labels))
    (root / "det_pointrcnn" / "car" / "0000.txt").write_text("".join(dets))
    (root / "det_pointrcnn" / "pedestrian" / "0000.txt").write_text("")
    (root / "det_pointrcnn" / "cyclist" / "0000.txt").write_text("")
    (root / "seqmap.txt").write_text(f"0000 empty 000000 {len(boxes):06d}\n")
    return root


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    """A 40-frame synthetic video (320 x 240, 10 frames/s) and its MOT ground truth."""
    from tracker.eval.synthetic import SynthConfig, write_synthetic

    folder = tmp_path_factory.mktemp("clip")
    video, gt = folder / "clip.mp4", folder / "clip_gt.txt"
    write_synthetic(SynthConfig(width=320, height=240, fps=10, num_frames=40, seed=3), video, gt)
    return video, gt
