"""Detectors: images in, ``Detections`` out, behind one seam.

A detector is any object with ``class_names`` and ``detect(frames) -> list[Detections]`` (a batch of
``Frame``s with BGR uint8 images, one ``Detections`` per frame, boxes in the image's pixels).
An optional ``runs_batches`` (default True) says whether a batch runs as one call on the device;
where it is False the pipeline hands frames over one at a time (see ``Pipeline``). An optional
``cpu_threads`` (default 0) says how many cores the detector keeps busy on the CPU; the pipeline
keeps its decoding and encoding threads off them (``pipeline.codec_on_spare_cores``).
``make_detector`` builds one from a ``--detector`` spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ..config import cpu_threads
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


DETECTOR_HELP = (
    "builtin (the shipped CNN for synthetic moving boxes), onnx:PATH (YOLOX layout), torchvision:NAME ("
    + ", ".join(
        (
            "fasterrcnn_mobilenet_v3_large_fpn",
            "fasterrcnn_resnet50_fpn_v2",
            "retinanet_resnet50_fpn_v2",
            "fcos_resnet50_fpn",
            "ssdlite320_mobilenet_v3_large",
        )
    )
    + "), file:PATH (MOT det.txt)"
)


def make_detector(
    spec: str,
    device: str = "auto",
    weights: str | None = None,
    classes: Sequence[str] | None = None,
    score_threshold: float = 0.1,
    threads: int = 0,
    refine_edges: bool = True,
) -> Detector:
    """Build the detector named by ``spec`` (see ``DETECTOR_HELP``); ``threads`` CPU threads
    (0 = half the cores); ``refine_edges``: the built-in detector snaps box sides to edges."""
    threads = cpu_threads(threads)
    kind, _, arg = spec.partition(":")
    if kind in ("builtin", "torchvision"):
        import torch

        torch.set_num_threads(threads)
    if kind == "builtin":
        from .builtin import BuiltinDetector

        return BuiltinDetector(arg or weights or None, device, score_threshold, refine_edges)
    if kind == "onnx" and arg:
        from .onnx import OnnxYoloxDetector

        return OnnxYoloxDetector(arg, classes or ROAD_USERS, score_threshold, threads=threads)
    if kind == "torchvision":
        from .torchvision_models import TorchvisionDetector

        return TorchvisionDetector(
            arg or "fasterrcnn_mobilenet_v3_large_fpn",
            device,
            weights,
            classes or ROAD_USERS,
            score_threshold,
        )
    if kind == "file" and arg:
        from .files import FileDetector

        return FileDetector(arg)
    raise ValueError(f"unknown detector {spec!r}; valid: {DETECTOR_HELP}")
