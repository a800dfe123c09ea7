"""The detector seam and what every detector shares: the protocol, COCO class names, class
filtering and device choice. Nothing here imports a detector implementation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ..source import Frame
from ..structures import Detections

# COCO class names (torchvision and YOLOX share the 80-class order).
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
ROAD_USERS = ("person", "bicycle", "car", "motorcycle", "bus", "truck")


class Detector(Protocol):
    """See the module docstring (``runs_batches`` and ``cpu_threads`` are optional, so not part
    of the protocol)."""

    class_names: tuple[str, ...]

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Detections for each frame of the batch."""


def class_filter(class_names: Sequence[str], wanted: Sequence[str] | None) -> np.ndarray:
    """Boolean mask over class ids of the classes to keep; unknown names are an error."""
    if not wanted:
        return np.ones(len(class_names), bool)
    unknown = [w for w in wanted if w not in class_names]
    if unknown:
        raise ValueError(f"unknown class {unknown[0]!r}; this detector knows: {', '.join(class_names)}")
    return np.isin(np.array(class_names), np.array(list(wanted)))


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}: expected auto, cpu or cuda")
    return device
