"""Precomputed detections from a file (MOT ``det.txt`` or KITTI-format lines)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..formats import KITTI_CLASSES, read_kitti_labels, read_mot
from ..source import Frame
from ..structures import Detections


class FileDetector:
    """Looks detections up by frame index. MOT files (comma separated) give one class,
    ``object``; KITTI-format files give KITTI classes."""

    runs_batches = False

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"detection file not found: {path}")
        first = next((line for line in path.read_text().splitlines() if line.strip()), "")
        if "," in first:
            table = read_mot(path, "det")
            table = type(table)(
                table.frame, table.track_id, table.xyxy, table.score, table.class_id * 0, table.ignore
            )
            self.class_names: tuple[str, ...] = ("object",)
        else:
            table = read_kitti_labels(path)
            table = table.take(~table.ignore)
            self.class_names = KITTI_CLASSES
        self._frames = table.per_frame()

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        return [self._frames[f.index] if f.index < len(self._frames) else Detections.empty() for f in frames]
