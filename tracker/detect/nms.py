"""Per-class non-maximum suppression."""

from __future__ import annotations

import numpy as np

from ..associate import iou_matrix


def batched_nms(xyxy: np.ndarray, score: np.ndarray, class_id: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept, best first: within each class, a box overlapping a better one by more than
    ``iou`` is dropped. Classes are separated by offsetting their boxes (as torchvision does)."""
    if len(xyxy) == 0:
        return np.zeros(0, np.int64)
    offset = class_id[:, None].astype(np.float64) * (float(np.abs(xyxy).max()) + 1.0)
    boxes = xyxy.astype(np.float64) + offset
    order = np.argsort(-score, kind="stable")
    boxes = boxes[order]
    overlaps = iou_matrix(boxes, boxes)
    keep = np.ones(len(order), bool)
    for i in range(len(order)):
        if keep[i]:
            keep[i + 1 :] &= overlaps[i, i + 1 :] <= iou
    return order[keep]
