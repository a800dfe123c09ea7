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

from ..config import Config, DetectorConfig, cpu_threads
from .base import COCO_CLASSES, ROAD_USERS, Detector, class_filter, resolve_device

__all__ = [
    "COCO_CLASSES",
    "DETECTOR_HELP",
    "ROAD_USERS",
    "Detector",
    "class_filter",
    "detector_from_config",
    "make_detector",
    "resolve_device",
]

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


def detector_from_config(config: DetectorConfig | Config) -> Detector:
    """The detector that a ``detector`` config section (or a whole ``Config``) describes."""
    d = config.detector if isinstance(config, Config) else config
    return make_detector(
        d.kind, d.device, d.weights or None, d.classes or None, d.score_threshold, d.threads, d.refine_edges
    )
