"""Detection files: written by ``track detect``, read back by ``--detector file:PATH``.

* ``.jsonl``: one record per detection, ``{"frame", "time_s", "class", "score", "xyxy"}``
  (``frame`` 0-based in source order, ``xyxy`` in pixels); classes by name, so nothing is lost.
* ``.txt``: MOT Challenge det lines, ``frame,-1,left,top,width,height,score,-1,-1,-1`` (1-based
  frames), which other trackers read; it has no class, so it reads back as one class, ``object``.
* KITTI-format label lines (space separated) read back with KITTI classes.

Detections are computed once and can then be tracked or tuned many times.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..formats import KITTI_CLASSES, BoxTable, FormatError, read_kitti_labels, read_mot
from ..source import Frame
from ..structures import Detections

DETECTION_SUFFIXES = {".jsonl": "jsonl", ".txt": "mot"}


def detection_format(path: str | Path) -> str:
    """``jsonl`` or ``mot`` by the file's extension; anything else is an error."""
    suffix = Path(path).suffix.lower()
    if suffix not in DETECTION_SUFFIXES:
        raise ValueError(f"{path}: detection files are .jsonl (JSON Lines) or .txt (MOT det), not {suffix!r}")
    return DETECTION_SUFFIXES[suffix]


class FileDetector:
    """Looks detections up by frame index (see the module docstring for the formats);
    ``classes`` keeps only those class names."""

    runs_batches = False

    def __init__(self, path: str | Path, classes: Sequence[str] | None = None) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"detection file not found: {path}")
        if path.suffix.lower() == ".jsonl":
            table, self.class_names = read_jsonl_detections(path)
        else:
            first = next((line for line in path.read_text().splitlines() if line.strip()), "")
            if "," in first or not first:
                table = read_mot(path, "det")
                table = BoxTable(
                    table.frame, table.track_id, table.xyxy, table.score, table.class_id * 0, table.ignore
                )
                self.class_names = ("object",)
            else:
                table = read_kitti_labels(path)
                table = table.take(~table.ignore)
                self.class_names = KITTI_CLASSES
        if classes:
            unknown = [c for c in classes if c not in self.class_names]
            if unknown:
                raise ValueError(f"{path} has no class {unknown[0]!r}; it has: {', '.join(self.class_names)}")
            table = table.take(np.isin(np.array(self.class_names)[table.class_id], list(classes)))
        self._frames = table.per_frame()

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        return [self._frames[f.index] if f.index < len(self._frames) else Detections.empty() for f in frames]


def read_jsonl_detections(path: str | Path) -> tuple[BoxTable, tuple[str, ...]]:
    """The records of a ``.jsonl`` detection file, and its class names in order of appearance."""
    path = Path(path)
    names: dict[str, int] = {}
    rows = []
    with path.open() as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                frame, name, score = int(rec["frame"]), str(rec["class"]), float(rec["score"])
                x1, y1, x2, y2 = (float(v) for v in rec["xyxy"])
            except (ValueError, KeyError, TypeError) as exc:
                raise FormatError(
                    f"{path}:{lineno}: expected a record with frame, class, score, xyxy ({exc})"
                ) from None
            if frame < 0 or not (x2 > x1 and y2 > y1) or not np.isfinite([x1, y1, x2, y2, score]).all():
                raise FormatError(f"{path}:{lineno}: bad frame or box")
            cls = names.setdefault(name, len(names))
            rows.append((frame, -1, x1, y1, x2, y2, score, cls, False))
    return BoxTable.from_rows(rows), tuple(names)


class DetectionWriter:
    """Writes detections frame by frame to a temporary file, renamed into place by ``close()``
    (``close(complete=False)`` or ``abort()`` removes it: no half-written file is left)."""

    def __init__(self, path: str | Path, class_names: Sequence[str]) -> None:
        self.path = Path(path)
        self.fmt = detection_format(self.path)
        self.class_names = tuple(class_names)
        self.tmp = self.path.with_name(f".{self.path.name}.part")
        self._fh = self.tmp.open("w")
        self.count = 0

    def write(self, frame: Frame, dets: Detections) -> None:
        self._fh.writelines(self._lines(frame, dets))
        self.count += len(dets)

    def _lines(self, frame: Frame, dets: Detections) -> Iterable[str]:
        for box, score, cls in zip(
            dets.xyxy.tolist(), dets.score.tolist(), dets.class_id.tolist(), strict=True
        ):
            if self.fmt == "mot":
                w, h = box[2] - box[0], box[3] - box[1]
                yield f"{frame.index + 1},-1,{box[0]:.2f},{box[1]:.2f},{w:.2f},{h:.2f},{score:.4f},-1,-1,-1\n"
            else:
                name = self.class_names[cls] if 0 <= cls < len(self.class_names) else str(cls)
                record = {
                    "frame": frame.index,
                    "time_s": round(float(frame.time_s), 6) if np.isfinite(frame.time_s) else None,
                    "class": name,
                    "score": round(score, 4),
                    "xyxy": [round(v, 2) for v in box],
                }
                yield json.dumps(record) + "\n"

    def close(self) -> Path:
        self._fh.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        self._fh.close()
        self.tmp.unlink(missing_ok=True)


def write_detections(
    detector, frames: Iterable[Frame], path: str | Path, batch_size: int = 1, on_frame=None
) -> int:
    """Run ``detector`` over ``frames`` and write every detection to ``path`` (``.jsonl`` or
    ``.txt``); returns the number of frames. Nothing is left at ``path`` if it fails."""
    writer = DetectionWriter(path, detector.class_names)
    frames_done = 0
    batch: list[Frame] = []
    size = batch_size if getattr(detector, "runs_batches", True) else 1
    try:
        for frame in frames:
            batch.append(frame)
            if len(batch) >= size:
                frames_done += _flush(detector, batch, writer, on_frame)
        frames_done += _flush(detector, batch, writer, on_frame)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return frames_done


def _flush(detector, batch: list[Frame], writer: DetectionWriter, on_frame) -> int:
    if not batch:
        return 0
    for frame, dets in zip(batch, detector.detect(batch), strict=True):
        writer.write(frame, dets[dets.valid_mask()])
        if on_frame is not None:
            on_frame()
    n = len(batch)
    batch.clear()
    return n
