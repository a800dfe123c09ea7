"""Detectors: images in, ``Detections`` out, behind one seam.

A detector is any object with ``class_names`` and ``detect(frames) -> list[Detections]`` (a batch of
``Frame``s with BGR uint8 images, one ``Detections`` per frame, boxes in the image's pixels).
An optional ``runs_batches`` (default True) says whether a batch runs as one call on the device;
where it is False the pipeline hands frames over one at a time (see ``Pipeline``). An optional
``cpu_threads`` (default 0) says how many cores the detector keeps busy on the CPU; the pipeline
keeps its decoding and encoding threads off them (``run.codec_on_spare_cores``).
``make_detector`` builds one from a ``--detector`` spec.
"""

from __future__ import annotations

from ..config import Config, DetectorConfig, cpu_threads
from .base import COCO_CLASSES, ROAD_USERS, Detector, class_filter, resolve_device

__all__ = [
    "TORCHVISION_MODELS",
    "YOLOX_SIZES",
    "COCO_CLASSES",
    "DETECTOR_HELP",
    "ROAD_USERS",
    "Detector",
    "class_filter",
    "detector_from_config",
    "make_detector",
    "resolve_device",
]

YOLOX_SIZES = ("nano", "tiny", "s", "m", "l", "x")
TORCHVISION_MODELS = (
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "retinanet_resnet50_fpn_v2",
    "fcos_resnet50_fpn",
    "ssdlite320_mobilenet_v3_large",
)
DETECTOR_HELP = (
    ", ".join(f"yolox-{s}" for s in YOLOX_SIZES)
    + " (COCO YOLOX in torch; weights from --weights, $DRIVING_TRACKER_WEIGHTS, the cache or the release),"
    " builtin (the shipped CNN for synthetic moving boxes), onnx:PATH (YOLOX layout), torchvision:NAME ("
    + ", ".join(TORCHVISION_MODELS)
    + "), file:PATH (detections from track detect: .jsonl or MOT .txt; KITTI files)"
)


def make_detector(spec: str, device: str = "auto", weights: str | None = None, **options) -> Detector:
    """Build the detector named by ``spec`` (see ``DETECTOR_HELP``); ``options`` are any other
    fields of ``DetectorConfig`` (``classes``, ``score_threshold``, ``threads``, ``input_size``...)."""
    fields = {"kind": spec, "device": device, "weights": weights or "", **options}
    if fields.get("classes") is None:
        fields["classes"] = ()
    config = DetectorConfig(**{**fields, "classes": tuple(fields["classes"])})
    config.validate("detector")
    return detector_from_config(config)


def detector_from_config(config: DetectorConfig | Config) -> Detector:
    """The detector that a ``detector`` config section (or a whole ``Config``) describes."""
    d = config.detector if isinstance(config, Config) else config
    kind, _, arg = d.kind.partition(":")
    threads = cpu_threads(d.threads)
    classes = d.classes or ROAD_USERS
    _check_device(kind, d.device)
    if kind in ("builtin", "torchvision") or kind.startswith("yolox-"):
        import torch

        torch.set_num_threads(threads)
    if kind.startswith("yolox-") and not arg:
        from .yolox import YoloxDetector

        return YoloxDetector(kind.removeprefix("yolox-"), d, threads)
    if kind == "builtin":
        from .builtin import BuiltinDetector

        if d.classes and tuple(d.classes) != ("box",):
            raise ValueError(f"the built-in detector finds one class, box; it cannot keep {list(d.classes)}")
        return BuiltinDetector(arg or d.weights or None, d.device, d.score_floor(), d.refine_edges)
    if kind == "onnx" and arg:
        from .onnx import OnnxYoloxDetector

        return OnnxYoloxDetector(arg, classes, d.score_floor(), threads=threads, device=d.device)
    if kind == "torchvision":
        from .torchvision_models import TorchvisionDetector

        name = arg or TORCHVISION_MODELS[0]
        return TorchvisionDetector(name, d.device, d.weights or None, classes, d.score_floor())
    if kind == "file" and arg:
        from .files import FileDetector

        return FileDetector(arg, d.classes or None)
    raise ValueError(f"unknown detector {d.kind!r}; valid: {DETECTOR_HELP}")


def _check_device(kind: str, device: str) -> None:
    """``cuda`` where there is none is an error for every detector, before anything loads."""
    if device != "cuda":
        return
    if kind == "onnx":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ValueError("--device cuda: onnxruntime has no CUDA execution provider here")
    else:
        resolve_device(device)
