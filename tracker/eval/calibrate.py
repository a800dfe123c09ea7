"""How far a detector's boxes are, consistently, from the true boxes: per class, the median
log ratio of width and height between each detection and the true box it matches.

A detector that projects 3D boxes into the image (PointRCNN on KITTI) draws pedestrians about
1.5 times as wide as the annotated 2D boxes, on every sequence. The tracker can undo such a bias
(``tracker.per_class.<class>.box_scale``); ``track calibrate`` measures it, sequence by sequence,
so that a correction is only taken where it is the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..associate import iou_matrix
from ..formats import BoxTable, read_kitti_labels, read_mot
from .datasets import Dataset

MIN_PAIRS_PER_SEQUENCE = 10


@dataclass(frozen=True)
class BoxBias:
    """Median log(detected / true) width and height of matched pairs of one class."""

    cls: str
    pairs: int
    log_width: float
    log_height: float
    # Sequence name -> (pairs, log width, log height); sequences with few pairs are left out.
    per_sequence: dict[str, tuple[int, float, float]]

    @property
    def box_scale(self) -> tuple[float, float]:
        """Width and height factors that undo the bias, to the nearest 0.05."""
        return (
            round(float(np.exp(-self.log_width)) * 20) / 20,
            round(float(np.exp(-self.log_height)) * 20) / 20,
        )

    @property
    def suggested_box_scale(self) -> tuple[float, float]:
        """``box_scale`` on the axes where the bias is consistent (``consistent``), else 1."""
        width, height = self.box_scale
        return (width if self.consistent(0) else 1.0, height if self.consistent(1) else 1.0)

    def consistent(self, axis: int, threshold: float = 0.05) -> bool:
        """Whether every sequence shows a bias beyond ``threshold`` with the same sign."""
        values = [v[1 + axis] for v in self.per_sequence.values()]
        return bool(values) and (all(v > threshold for v in values) or all(v < -threshold for v in values))


def box_bias(dataset: Dataset, classes: tuple[str, ...], min_iou: float = 0.3) -> list[BoxBias]:
    """Match detections to ground truth frame by frame (Hungarian on IoU >= ``min_iou``) and
    measure each class's bias. KITTI: classes by name; MOT: one class."""
    truths = {seq.name: _truth_table(dataset, seq.name) for seq in dataset.sequences}
    out = []
    for cls in classes:
        ratios: dict[str, np.ndarray] = {}
        class_id = dataset.class_names.index(cls)
        for seq in dataset.sequences:
            truth_frame, truth = _class_truth(dataset, truths[seq.name], class_id)
            pairs = [np.zeros((0, 2))]
            for i, dets in enumerate(seq.frames):
                # MOT files carry one class, often unlabelled (-1): every detection counts.
                mine = dets.xyxy if dataset.format == "mot" else dets.xyxy[dets.class_id == class_id]
                pairs.append(_matched_log_ratios(mine, truth[truth_frame == i], min_iou))
            ratios[seq.name] = np.concatenate(pairs)
        everything = np.concatenate(list(ratios.values())) if ratios else np.zeros((0, 2))
        if not len(everything):
            continue
        median = np.median(everything, axis=0)
        per_sequence = {
            name: (len(r), float(np.median(r[:, 0])), float(np.median(r[:, 1])))
            for name, r in ratios.items()
            if len(r) >= MIN_PAIRS_PER_SEQUENCE
        }
        out.append(BoxBias(cls, len(everything), float(median[0]), float(median[1]), per_sequence))
    return out


def _truth_table(dataset: Dataset, name: str) -> BoxTable:
    """One sequence's ground truth, read once for every class."""
    if dataset.format == "kitti":
        return read_kitti_labels(dataset.root / "label_02" / f"{name}.txt")
    return read_mot(dataset.gt_files[name], "gt")


def _class_truth(dataset: Dataset, table: BoxTable, class_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(frame, xyxy) of the evaluated true boxes of one class (MOT: the only class)."""
    keep = ~table.ignore
    if dataset.format == "kitti":
        keep &= table.class_id == class_id
    return table.frame[keep], table.xyxy[keep]


def _matched_log_ratios(dets: np.ndarray, truth: np.ndarray, min_iou: float) -> np.ndarray:
    """log(width ratio), log(height ratio) of each matched (detection, true box) pair."""
    if not len(dets) or not len(truth):
        return np.zeros((0, 2))
    iou = iou_matrix(truth, dets)
    rows, cols = linear_sum_assignment(-iou)
    keep = iou[rows, cols] >= min_iou
    t, d = truth[rows[keep]], dets[cols[keep]]
    return np.log((d[:, 2:] - d[:, :2]) / (t[:, 2:] - t[:, :2]))
