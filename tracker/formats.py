"""Reading and writing box files: KITTI tracking, PointRCNN detections, MOT Challenge.

Readers return a ``BoxTable`` (struct-of-arrays, one row per box, 0-based frame numbers) and
raise ``FormatError`` naming the file and line of the first bad row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .structures import Detections, Tracks

# Class names of KITTI ground truth and detections, lower case; the index is the class id.
# Every type of the KITTI devkit (Car ... Misc, DontCare) and ``Person``, which real tracking
# labels use for a person sitting (TrackEval's Kitti2DBox: a pedestrian distractor). New types
# go at the end, so that class ids stay what they were.
# KITTI's camera images: 1242 x 375 pixels in most sequences (1224-1242 x 370-376 in all). The
# learned motion model takes the image centre, (621, 187.5), for the optical axis; KITTI's
# calibration puts it some 10 px left and 15 px higher, within the model's tolerance.
KITTI_IMAGE_SIZE = (1242.0, 375.0)
KITTI_CLASSES = ("car", "van", "truck", "pedestrian", "person_sitting", "cyclist", "tram", "misc", "person")
_KITTI_TYPE_NAMES = {name: name.capitalize() for name in KITTI_CLASSES}
_KITTI_TYPE_NAMES["person_sitting"] = "Person_sitting"
# Ground truth TrackEval neither rewards nor penalises when scoring a class (KITTI 2D box).
KITTI_DISTRACTORS = {"car": ("van",), "pedestrian": ("person", "person_sitting")}
# PointRCNN (AB3DMOT) detection files number their types 1 pedestrian, 2 car, 3 cyclist.
_POINTRCNN_TYPES = {1: "pedestrian", 2: "car", 3: "cyclist"}
# Folders of a KITTI detection set, one per class (``DET/<class>/SSSS.txt``).
KITTI_CLASS_DIRS = ("car", "pedestrian", "cyclist")
# Layouts of a per-class detection file, told apart by their column count.
DETECTION_LAYOUTS = ("pointrcnn", "rrc")


class FormatError(ValueError):
    """A malformed line in a box file; the message is ``path:line: what is wrong``."""


@dataclass(frozen=True)
class BoxTable:
    """Boxes of a whole sequence. ``track_id`` is -1 for detections; ``ignore`` marks
    ground-truth regions that evaluation should not count (KITTI DontCare, MOT flag 0)."""

    frame: np.ndarray
    track_id: np.ndarray
    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray
    ignore: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    @staticmethod
    def from_rows(rows: list[tuple]) -> BoxTable:
        """From tuples ``(frame, track_id, x1, y1, x2, y2, score, class_id, ignore)``."""
        if not rows:
            return BoxTable(
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros((0, 4), np.float32),
                np.zeros(0, np.float32),
                np.zeros(0, np.int64),
                np.zeros(0, bool),
            )
        cols = list(zip(*rows, strict=False))
        return BoxTable(
            frame=np.array(cols[0], np.int64),
            track_id=np.array(cols[1], np.int64),
            xyxy=np.stack([np.array(c, np.float32) for c in cols[2:6]], axis=1),
            score=np.array(cols[6], np.float32),
            class_id=np.array(cols[7], np.int64),
            ignore=np.array(cols[8], bool),
        )

    @staticmethod
    def concatenate(tables: Iterable[BoxTable]) -> BoxTable:
        tables = list(tables)
        return BoxTable(*(np.concatenate([getattr(t, f) for t in tables]) for f in BoxTable.__annotations__))

    def take(self, mask: np.ndarray) -> BoxTable:
        return BoxTable(*(getattr(self, f)[mask] for f in BoxTable.__annotations__))

    def per_frame(self, num_frames: int | None = None) -> list[Detections]:
        """Detections for each frame 0..num_frames-1 (empty where a frame has none)."""
        n = int(num_frames if num_frames is not None else (self.frame.max() + 1 if len(self) else 0))
        order = np.argsort(self.frame, kind="stable")
        frames = self.frame[order]
        bounds = np.searchsorted(frames, np.arange(n + 1))
        xyxy, score, cls = self.xyxy[order], self.score[order], self.class_id[order]
        return [
            Detections(xyxy[a:b], score[a:b], cls[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=False)
        ]


def _fields(path: Path, lineno: int, text: str, sep: str | None, count: int) -> list[str]:
    parts = [p.strip() for p in text.split(sep)] if sep else text.split()
    if len(parts) < count:
        raise FormatError(f"{path}:{lineno}: expected at least {count} columns, got {len(parts)}")
    return parts


def _number(path: Path, lineno: int, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FormatError(f"{path}:{lineno}: {what} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise FormatError(f"{path}:{lineno}: {what} is not finite: {text!r}")
    return value


_MAX_INTEGER = 2**31  # frames and ids beyond this are corrupt data, not real sequences


def _integer(path: Path, lineno: int, text: str, what: str) -> int:
    value = _number(path, lineno, text, what)
    if value != int(value):
        raise FormatError(f"{path}:{lineno}: {what} is not an integer: {text!r}")
    if abs(value) >= _MAX_INTEGER:
        raise FormatError(f"{path}:{lineno}: {what} is out of range: {text!r}")
    return int(value)


def _box(path: Path, lineno: int, x1: float, y1: float, x2: float, y2: float) -> None:
    # Zero-size boxes occur in real files (clipped at the image edge); the tracker drops them.
    if x2 < x1 or y2 < y1:
        raise FormatError(f"{path}:{lineno}: box has negative size (x1={x1}, y1={y1}, x2={x2}, y2={y2})")
    if max(abs(x1), abs(y1), abs(x2), abs(y2)) > 1e7:
        raise FormatError(f"{path}:{lineno}: box coordinate out of range (|value| > 1e7 pixels)")


def _lines(path: Path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise FormatError(f"{path}:{lineno}: not text (invalid UTF-8)") from None
            if "\x00" in line:
                raise FormatError(f"{path}:{lineno}: not text (NUL byte)")
            if line and not line.startswith("#"):
                yield lineno, line


# ---------------------------------------------------------------- KITTI


def read_kitti_labels(path: str | Path) -> BoxTable:
    """KITTI tracking labels or tracker output (space separated, 17 or 18 columns).

    ``class_id`` indexes ``KITTI_CLASSES``; DontCare rows come back with ``ignore`` set and
    class -1. An 18th column, if present, is the score (else 1).
    """
    path = Path(path)
    rows = []
    for lineno, line in _lines(path):
        f = _fields(path, lineno, line, None, 17)
        if len(f) > 18:
            raise FormatError(f"{path}:{lineno}: expected 17 or 18 columns, got {len(f)}")
        frame = _integer(path, lineno, f[0], "frame")
        track_id = _integer(path, lineno, f[1], "track id")
        kind = f[2].lower()
        x1, y1, x2, y2 = (_number(path, lineno, v, "box coordinate") for v in f[6:10])
        score = _number(path, lineno, f[17], "score") if len(f) == 18 else 1.0
        if frame < 0:
            raise FormatError(f"{path}:{lineno}: negative frame number {frame}")
        if kind == "dontcare":
            rows.append((frame, -1, x1, y1, x2, y2, score, -1, True))
            continue
        if kind not in KITTI_CLASSES:
            raise FormatError(f"{path}:{lineno}: unknown KITTI type {f[2]!r}")
        _box(path, lineno, x1, y1, x2, y2)
        rows.append((frame, track_id, x1, y1, x2, y2, score, KITTI_CLASSES.index(kind), False))
    return BoxTable.from_rows(rows)


def read_pointrcnn(path: str | Path) -> BoxTable:
    """PointRCNN detections (comma separated, 15 columns; see ../shared/data/kitti/README.md).

    Scores are the detector's own, raw (logits, about -1..16 on KITTI; not probabilities): a
    score map measured by ``track calibrate`` (``tracker.per_class.<class>.score_map``) makes
    them comparable.
    """
    path = Path(path)
    rows = []
    for lineno, line in _lines(path):
        f = _fields(path, lineno, line, ",", 1)
        if len(f) != 15:
            raise FormatError(f"{path}:{lineno}: expected 15 columns (PointRCNN), got {len(f)}")
        frame = _integer(path, lineno, f[0], "frame")
        type_id = _integer(path, lineno, f[1], "type id")
        if type_id not in _POINTRCNN_TYPES:
            raise FormatError(f"{path}:{lineno}: unknown type id {type_id} (expected 1, 2 or 3)")
        cls = KITTI_CLASSES.index(_POINTRCNN_TYPES[type_id])
        rows.append(_detection_row(path, lineno, frame, f[2:6], f[6], cls))
    return BoxTable.from_rows(rows)


def read_rrc(path: str | Path, class_name: str) -> BoxTable:
    """Per-class 2D detections ``frame,x1,y1,x2,y2,score`` (comma separated, 0-based frames, as
    the RRC files of KITTI trackers circulate): there is no class column, ``class_name`` (the
    folder's) is the class of every row."""
    path = Path(path)
    cls = KITTI_CLASSES.index(class_name)
    rows = []
    for lineno, line in _lines(path):
        f = _fields(path, lineno, line, ",", 1)
        if len(f) != 6:
            raise FormatError(f"{path}:{lineno}: expected 6 columns (frame,x1,y1,x2,y2,score), got {len(f)}")
        frame = _integer(path, lineno, f[0], "frame")
        rows.append(_detection_row(path, lineno, frame, f[1:5], f[5], cls))
    return BoxTable.from_rows(rows)


def _detection_row(path: Path, lineno: int, frame: int, box: list[str], score: str, cls: int) -> tuple:
    """A checked ``BoxTable`` row of a detection: x1, y1, x2, y2 and score as written."""
    if frame < 0:
        raise FormatError(f"{path}:{lineno}: negative frame number {frame}")
    x1, y1, x2, y2 = (_number(path, lineno, v, "box coordinate") for v in box)
    _box(path, lineno, x1, y1, x2, y2)
    return (frame, -1, x1, y1, x2, y2, _number(path, lineno, score, "score"), cls, False)


def detection_layout(path: str | Path) -> str | None:
    """The layout of a per-class detection file by its first data line: ``pointrcnn`` (15
    comma-separated columns), ``rrc`` (6: ``frame,x1,y1,x2,y2,score``) or ``mot`` (7 to 10,
    MOT det lines, whose id column is -1); None for an empty file, which any layout may be."""
    for lineno, line in _lines(path):
        f = [v.strip() for v in line.split(",")]
        if len(f) == 15:
            return "pointrcnn"
        if len(f) == 6:
            return "rrc"
        if 7 <= len(f) <= 10 and f[1] in ("-1", "-1.0"):
            return "mot"
        raise FormatError(
            f"{path}:{lineno}: {len(f)} comma-separated columns: neither PointRCNN (15), "
            "frame,x1,y1,x2,y2,score (6) nor MOT det lines (7 to 10, id -1)"
        )
    return None


def read_class_detections(path: str | Path, class_name: str, layout: str = "auto") -> BoxTable:
    """One per-class KITTI detection file in the PointRCNN or RRC layout (``auto``: by its
    columns, see ``detection_layout``)."""
    if layout == "auto":
        layout = detection_layout(path) or "rrc"
    if layout == "pointrcnn":
        table = read_pointrcnn(path)
        wrong = table.class_id != KITTI_CLASSES.index(class_name)
        if wrong.any():
            found = KITTI_CLASSES[int(table.class_id[wrong][0])]
            raise FormatError(f"{path}: a {found} detection in the {class_name} folder")
        return table
    if layout == "rrc":
        return read_rrc(path, class_name)
    raise ValueError(f"detection layout: expected auto, {', '.join(DETECTION_LAYOUTS)}, got {layout!r}")


def format_kitti_tracks(frame: int, tracks: Tracks, class_names: tuple[str, ...]) -> list[str]:
    """KITTI tracking result lines for one frame (the layout TrackEval's Kitti2DBox reads)."""
    lines = []
    for tid, box, score, cls in zip(tracks.id, tracks.xyxy, tracks.score, tracks.class_id, strict=False):
        name = class_names[cls] if 0 <= cls < len(class_names) else str(cls)
        kind = _KITTI_TYPE_NAMES.get(name, name.capitalize())
        lines.append(
            f"{frame} {tid} {kind} -1 -1 -10 {box[0]:.2f} {box[1]:.2f} {box[2]:.2f} {box[3]:.2f} "
            f"-1 -1 -1 -1000 -1000 -1000 -10 {score:.4f}\n"
        )
    return lines


# ---------------------------------------------------------------- MOT Challenge


def read_mot(path: str | Path, kind: str = "det") -> BoxTable:
    """MOT Challenge files: ``det``, ``gt`` or ``results`` (comma separated, 1-based frames).

    Columns ``frame, id, left, top, width, height, conf[, class, visibility]``. For ``gt`` the
    7th column is the evaluation flag: 0 marks boxes to ignore. Frames come back 0-based.
    """
    if kind not in ("det", "gt", "results"):
        raise ValueError(f"kind: expected det, gt or results, got {kind!r}")
    path = Path(path)
    rows = []
    for lineno, line in _lines(path):
        f = _fields(path, lineno, line, ",", 7)
        if len(f) > 10:
            raise FormatError(f"{path}:{lineno}: expected 7 to 10 columns, got {len(f)}")
        frame = _integer(path, lineno, f[0], "frame")
        if frame < 1:
            raise FormatError(f"{path}:{lineno}: MOT frames start at 1, got {frame}")
        track_id = _integer(path, lineno, f[1], "id")
        left, top, width, height = (_number(path, lineno, v, "box value") for v in f[2:6])
        _box(path, lineno, left, top, left + width, top + height)
        conf = _number(path, lineno, f[6], "confidence")
        cls = _integer(path, lineno, f[7], "class") if len(f) > 7 else -1
        ignore = kind == "gt" and conf == 0
        score = 1.0 if kind == "gt" else conf
        rows.append((frame - 1, track_id, left, top, left + width, top + height, score, cls, ignore))
    return BoxTable.from_rows(rows)


def format_mot_tracks(frame: int, tracks: Tracks) -> list[str]:
    """MOT Challenge result lines for one 0-based frame (written 1-based)."""
    lines = []
    for tid, box, score in zip(tracks.id, tracks.xyxy, tracks.score, strict=False):
        w, h = box[2] - box[0], box[3] - box[1]
        lines.append(f"{frame + 1},{tid},{box[0]:.2f},{box[1]:.2f},{w:.2f},{h:.2f},{score:.4f},-1,-1,-1\n")
    return lines


def write_lines_atomic(path: str | Path, lines: Iterable[str]) -> None:
    """Write a text file under a temporary name and rename it into place on success."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    try:
        with tmp.open("w") as fh:
            fh.writelines(lines)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def read_seqmap(path: str | Path) -> list[tuple[str, int]]:
    """``(sequence, num_frames)`` pairs of a TrackEval seqmap (``SSSS empty 000000 NNNNNN``)."""
    path = Path(path)
    out = []
    for lineno, line in _lines(path):
        f = line.split()
        if len(f) != 4:
            raise FormatError(f"{path}:{lineno}: expected 'SEQ empty START END', got {line!r}")
        out.append((f[0], _integer(path, lineno, f[3], "frame count")))
    if not out:
        raise FormatError(f"{path}: no sequences listed")
    return out
