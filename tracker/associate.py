"""Association: cost matrices between predicted track boxes and detections, gating, and
Hungarian assignment (``scipy.optimize.linear_sum_assignment``).

Costs are in [0, 2], 0 for identical boxes:
- ``iou``:  1 - IoU; blind once boxes stop overlapping (every such pair costs 1).
- ``giou``: 1 - generalised IoU; grows with the empty space of the enclosing box.
- ``diou``: 1 - distance IoU; adds the squared centre distance over the squared diagonal of
  the enclosing box, so a fast or small object whose boxes do not overlap between frames
  still prefers the nearest detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

_EMPTY = np.zeros(0, np.int64)


@dataclass(frozen=True)
class Matches:
    """Result of one assignment. Indices refer to the rows/columns of the cost matrix."""

    track_idx: np.ndarray
    det_idx: np.ndarray
    unmatched_tracks: np.ndarray
    unmatched_dets: np.ndarray


def _pairwise(a: np.ndarray, b: np.ndarray):
    a = np.asarray(a, dtype=np.float64)[:, None, :]
    b = np.asarray(b, dtype=np.float64)[None, :, :]
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    union = area_a + area_b - inter
    iou = inter / np.maximum(union, 1e-9)
    return a, b, iou, union


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of xyxy boxes ``a`` (N, 4) and ``b`` (M, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return _pairwise(a, b)[2]


def cost_matrix(kind: str, tracks_xyxy: np.ndarray, dets_xyxy: np.ndarray) -> np.ndarray:
    """(N, M) matching cost of each track box against each detection box (see module doc)."""
    n, m = len(tracks_xyxy), len(dets_xyxy)
    if n == 0 or m == 0:
        return np.zeros((n, m))
    a, b, iou, union = _pairwise(tracks_xyxy, dets_xyxy)
    if kind == "iou":
        return 1.0 - iou
    ew = np.maximum(a[..., 2], b[..., 2]) - np.minimum(a[..., 0], b[..., 0])
    eh = np.maximum(a[..., 3], b[..., 3]) - np.minimum(a[..., 1], b[..., 1])
    if kind == "giou":
        enclosing = np.maximum(ew * eh, 1e-9)
        return 1.0 - iou + (enclosing - union) / enclosing
    if kind == "diou":
        dx = (a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) / 2
        dy = (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) / 2
        return 1.0 - iou + (dx * dx + dy * dy) / np.maximum(ew * ew + eh * eh, 1e-9)
    raise ValueError(f"unknown cost {kind!r}: expected iou, giou or diou")


def assign(cost: np.ndarray, max_cost: float) -> Matches:
    """Minimum-cost one-to-one assignment; pairs costing more than ``max_cost`` are not matched.

    ``cost`` is not modified.
    """
    n, m = cost.shape
    if n == 0 or m == 0:
        return Matches(_EMPTY, _EMPTY, np.arange(n), np.arange(m))
    gated = np.where(cost <= max_cost, cost, max_cost + 1e6)
    rows, cols = linear_sum_assignment(gated)
    keep = cost[rows, cols] <= max_cost
    rows, cols = rows[keep], cols[keep]
    track_free = np.ones(n, bool)
    track_free[rows] = False
    det_free = np.ones(m, bool)
    det_free[cols] = False
    return Matches(
        rows.astype(np.int64), cols.astype(np.int64), np.flatnonzero(track_free), np.flatnonzero(det_free)
    )
