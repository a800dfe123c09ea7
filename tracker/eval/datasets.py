"""Datasets of detection files with ground truth: run the tracker over every sequence, write
results in the dataset's own format, and score them with TrackEval.

KITTI layout: ``DATA/seqmap.txt``, ``DATA/label_02/SSSS.txt`` and detections in
``DATA/<detections>/``, either one file per class and sequence, ``{car,pedestrian,cyclist}/SSSS.txt``
(PointRCNN's 15 columns; ``frame,x1,y1,x2,y2,score`` as RRC's; or MOT det lines; the class is
the folder's), or one file per sequence as ``track detect`` writes them, ``SSSS.jsonl`` (classes
by name: COCO ``person`` and ``bicycle`` read as ``pedestrian`` and ``cyclist``). The layout is
found from the files themselves, or named (``det_format``). Empty files are normal.

MOT layout: ``DATA/<SEQ>/det/det.txt``, ``DATA/<SEQ>/gt/gt.txt`` and optionally
``DATA/<SEQ>/seqinfo.ini`` (``frameRate``, ``seqLength``).
"""

from __future__ import annotations

import configparser
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import TrackerConfig
from ..detect.files import read_jsonl_detections
from ..formats import (
    KITTI_CLASS_DIRS,
    KITTI_CLASSES,
    KITTI_IMAGE_SIZE,
    BoxTable,
    detection_layout,
    format_kitti_tracks,
    format_mot_tracks,
    read_class_detections,
    read_kitti_labels,
    read_mot,
    read_seqmap,
    write_lines_atomic,
)
from ..output_paths import same_file
from ..structures import Detections, Tracks
from ..tracks import Tracker
from .metrics import ClassMetrics, evaluate_kitti, evaluate_mot

KITTI_FPS = 10.0
# Layouts of a KITTI detection folder (``auto``: found from the files).
DET_FORMATS = ("auto", "pointrcnn", "rrc", "mot", "jsonl")
# Class names of ``track detect``'s COCO detectors that mean a KITTI class.
_COCO_TO_KITTI = {"person": "pedestrian", "bicycle": "cyclist"}


@dataclass
class Sequence:
    """One sequence's detections, frame by frame, ready to feed the tracker."""

    name: str
    frames: list[Detections]
    fps: float
    image_size: tuple[float, float] | None = None  # (width, height) of its frames, when known


@dataclass
class Dataset:
    """Sequences with detections loaded, plus what is needed to write and score results."""

    root: Path
    format: str  # "kitti" or "mot"
    class_names: tuple[str, ...]
    sequences: list[Sequence]
    gt_files: dict[str, Path] = field(default_factory=dict)
    inputs: list[Path] = field(default_factory=list)  # every file read: no result may replace one

    @property
    def seq_lengths(self) -> list[tuple[str, int]]:
        return [(s.name, len(s.frames)) for s in self.sequences]

    def format_frame(self, frame: int, tracks: Tracks) -> list[str]:
        if self.format == "kitti":
            return format_kitti_tracks(frame, tracks, self.class_names)
        return format_mot_tracks(frame, tracks)

    def evaluate(
        self, results_dir: Path, classes: tuple[str, ...] | None = None
    ) -> dict[str, dict[str, ClassMetrics]]:
        """TrackEval metrics of the result files in ``results_dir``."""
        if self.format == "kitti":
            return evaluate_kitti(self.root, results_dir, self.seq_lengths, classes or ("car", "pedestrian"))
        return evaluate_mot(self.gt_files, results_dir, self.seq_lengths)


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path}")


def load_kitti(
    root: str | Path, detections: str = "det_pointrcnn", fps: float = KITTI_FPS, det_format: str = "auto"
) -> Dataset:
    """Load a KITTI tracking folder's seqmap and detection files (see module doc)."""
    if det_format not in DET_FORMATS:
        raise ValueError(f"detection format: expected one of {', '.join(DET_FORMATS)}, got {det_format!r}")
    root = Path(root)
    _require_dir(root, "dataset folder")
    seqmap = root / "seqmap.txt"
    if not seqmap.is_file():
        raise FileNotFoundError(f"seqmap not found: {seqmap}")
    _require_dir(root / "label_02", "label folder")
    det_root = root / detections
    _require_dir(det_root, "detection folder")
    per_sequence = det_format == "jsonl" or (
        det_format == "auto" and any(det_root.glob("*.jsonl")) and not _class_dirs(det_root)
    )
    if not per_sequence and not _class_dirs(det_root):
        raise FileNotFoundError(
            f"no class folders ({', '.join(KITTI_CLASS_DIRS)}) and no SSSS.jsonl files in {det_root}"
        )
    sequences, inputs = [], [seqmap]
    for name, num_frames in read_seqmap(seqmap):
        label = root / "label_02" / f"{name}.txt"
        if not label.is_file():
            raise FileNotFoundError(f"label file not found: {label}")
        read_kitti_labels(label)  # fail here, with file and line, not inside TrackEval
        if per_sequence:
            paths = [det_root / f"{name}.jsonl"]
            table = _read_jsonl(paths[0])
        else:
            paths = [det_root / d / f"{name}.txt" for d in _class_dirs(det_root)]
            table = BoxTable.concatenate(_read_class_file(p, det_format) for p in paths)
        inputs += [*paths, label]
        sequences.append(Sequence(name, _frames(table, num_frames, name), fps, KITTI_IMAGE_SIZE))
    return Dataset(root, "kitti", KITTI_CLASSES, sequences, inputs=inputs)


def _class_dirs(det_root: Path) -> list[str]:
    return [d for d in KITTI_CLASS_DIRS if (det_root / d).is_dir()]


def _read_class_file(path: Path, det_format: str) -> BoxTable:
    if not path.is_file():
        raise FileNotFoundError(f"detection file not found: {path}")
    class_name = path.parent.name
    layout = det_format
    if layout == "auto":
        layout = detection_layout(path) or "rrc"  # an empty file reads the same in any layout
    if layout == "mot":
        table = read_mot(path, "det")
        return BoxTable(
            table.frame,
            table.track_id,
            table.xyxy,
            table.score,
            np.full(len(table), KITTI_CLASSES.index(class_name), np.int64),
            table.ignore,
        )
    if layout == "jsonl":
        raise ValueError(f"{path}: JSON Lines detections are one file per sequence, DET/SSSS.jsonl")
    return read_class_detections(path, class_name, layout)


def _read_jsonl(path: Path) -> BoxTable:
    if not path.is_file():
        raise FileNotFoundError(f"detection file not found: {path}")
    table, names = read_jsonl_detections(path)
    kitti = [_COCO_TO_KITTI.get(n, n) for n in names]
    ids = np.array([KITTI_CLASSES.index(n) if n in KITTI_CLASSES else -1 for n in kitti], np.int64)
    if not len(table):
        return table
    class_id = ids[table.class_id]
    table = BoxTable(table.frame, table.track_id, table.xyxy, table.score, class_id, table.ignore)
    return table.take(class_id >= 0)  # classes KITTI has no name for are not evaluated


def load_mot(root: str | Path, fps: float | None = None) -> Dataset:
    """Load a MOT Challenge folder: every sub-folder with ``det/det.txt`` is a sequence."""
    root = Path(root)
    _require_dir(root, "dataset folder")
    seq_dirs = sorted(p for p in root.iterdir() if (p / "det" / "det.txt").is_file())
    if not seq_dirs:
        raise FileNotFoundError(f"no sequences (SEQ/det/det.txt) in {root}")
    sequences, gt_files = [], {}
    for seq_dir in seq_dirs:
        gt = seq_dir / "gt" / "gt.txt"
        if not gt.is_file():
            raise FileNotFoundError(f"ground truth not found: {gt}")
        dets = read_mot(seq_dir / "det" / "det.txt", "det")
        info_fps, info_len, size = _seqinfo(seq_dir)
        truth = read_mot(gt, "gt")
        length = info_len or int(max(dets.frame.max(initial=-1), truth.frame.max(initial=-1)) + 1)
        frames = _frames(dets, length, seq_dir.name)
        sequences.append(Sequence(seq_dir.name, frames, fps or info_fps or 30.0, size))
        gt_files[seq_dir.name] = gt
    inputs = [p for d in seq_dirs for p in (d / "det" / "det.txt", d / "gt" / "gt.txt")]
    return Dataset(root, "mot", ("pedestrian",), sequences, gt_files, inputs)


def _seqinfo(seq_dir: Path) -> tuple[float | None, int | None, tuple[float, float] | None]:
    """Frame rate, length and (width, height) from ``seqinfo.ini``, each None where absent."""
    path = seq_dir / "seqinfo.ini"
    if not path.is_file():
        return None, None, None
    parser = configparser.ConfigParser()
    parser.read(path)
    section = parser["Sequence"] if parser.has_section("Sequence") else {}
    fps = float(section["frameRate"]) if "frameRate" in section else None
    length = int(section["seqLength"]) if "seqLength" in section else None
    known = "imWidth" in section and "imHeight" in section
    size = (float(section["imWidth"]), float(section["imHeight"])) if known else None
    return fps, length, size


def _frames(table: BoxTable, num_frames: int, name: str) -> list[Detections]:
    if len(table) and table.frame.max() >= num_frames:
        raise ValueError(
            f"sequence {name}: detections at frame {int(table.frame.max())}, "
            f"but the seqmap says it has {num_frames} frames"
        )
    return table.per_frame(num_frames)


def track_sequence(sequence: Sequence, config: TrackerConfig, class_names: tuple[str, ...]) -> list[Tracks]:
    """Run a fresh tracker over one sequence; one ``Tracks`` per frame."""
    tracker = Tracker(config, class_names)
    step = 1.0 / sequence.fps
    size = sequence.image_size
    return [tracker.update(dets, time_s=i * step, image_size=size) for i, dets in enumerate(sequence.frames)]


def refuse_dataset_files(dataset: Dataset, results_dir: Path) -> None:
    """``ValueError`` before anything is written when a result file ``results_dir/SEQ.txt``
    would replace a file the dataset was read from (KITTI keeps labels and detections as
    ``SEQ.txt``): the results must go to a folder of their own."""
    read = [*dataset.inputs, *dataset.gt_files.values()]
    for seq in dataset.sequences:
        target = results_dir / f"{seq.name}.txt"
        if any(same_file(target, p) for p in read):
            raise ValueError(
                f"results folder {results_dir}: {target} is an input of the dataset "
                f"{dataset.root}; refusing to replace it, give a folder of its own"
            )


def run_dataset(
    dataset: Dataset,
    config: TrackerConfig,
    results_dir: str | Path,
    postprocess: Callable[[list[Tracks]], list[Tracks]] | None = None,
) -> float:
    """Track every sequence and write ``results_dir/SEQ.txt``. Returns tracker-only seconds."""
    results_dir = Path(results_dir)
    refuse_dataset_files(dataset, results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    elapsed = 0.0
    for seq in dataset.sequences:
        start = time.perf_counter()
        per_frame = track_sequence(seq, config, dataset.class_names)
        elapsed += time.perf_counter() - start
        if postprocess is not None:
            per_frame = postprocess(per_frame)
        lines = [line for i, tracks in enumerate(per_frame) for line in dataset.format_frame(i, tracks)]
        write_lines_atomic(results_dir / f"{seq.name}.txt", lines)
    return elapsed


def headline(metrics: dict[str, dict[str, ClassMetrics]]) -> dict[str, float]:
    """``{class: HOTA}`` over all sequences."""
    return {cls: m.HOTA for cls, m in metrics["COMBINED"].items()}


def per_sequence_hota(metrics: dict[str, dict[str, ClassMetrics]], cls: str) -> dict[str, float]:
    return {seq: m[cls].HOTA for seq, m in metrics.items() if seq != "COMBINED" and cls in m}


def total_frames(dataset: Dataset) -> int:
    return int(np.sum([len(s.frames) for s in dataset.sequences]))
