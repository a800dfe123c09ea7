"""Fake stages for tests: a detector is any object with ``class_names`` and ``detect``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tracker import Detections
from tracker.formats import read_mot


class TruthDetector:
    """A fake detector that reports the generator's ground truth (visible boxes)."""

    class_names = ("object",)

    def __init__(self, gt_path: Path) -> None:
        table = read_mot(gt_path, "gt")
        self.frames = table.per_frame()

    def detect(self, frames):
        out = []
        for f in frames:
            d = self.frames[f.index] if f.index < len(self.frames) else Detections.empty()
            out.append(Detections(d.xyxy, np.full(len(d), 0.9), np.zeros(len(d), int)))
        return out
