"""YOLOX detectors in torch (``yolox-nano`` ... ``yolox-x``): whole frames and tiles.

Each frame is seen as one or more *views*, all run through the network:

* the whole frame, letterboxed (scaled to ``input_size`` on its long side, top-left, padded with
  114 to a multiple of 32, as the YOLOX exports expect);
* optionally, a strip: the full-width band of rows ``tile_band`` scaled to ``band_size``
  network pixels wide (on driving footage the small distant vehicles sit around the horizon);
* optionally, tiles: ``tile_size`` x ``tile_size`` windows at the frame's own resolution,
  overlapping by ``tile_overlap``, laid over the same band of rows.

Views of one shape run as one batch. Boxes from every view are mapped back to the frame; a box
that touches an inner edge of a tile or strip is a piece of an object cut by it and is dropped:
an object small enough to need the tiles lies whole in a neighbouring tile (they overlap), and
a larger one is seen whole by the whole-frame view (on the highway clip a strip's cut pieces of
road were boxed as cars). Class-aware NMS then merges the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config import DetectorConfig
from ..onnx_cpu import cpu_session
from ..source import Frame
from ..structures import Detections
from .base import COCO_CLASSES, ROAD_USERS, class_filter, resolve_device
from .weights import find_weights, load_network
from .yolox_net import SIZES, YOLOX, anchor_grid

SCORE_FLOOR = 0.25  # detector.score_threshold 0 means this (see DetectorConfig)
PAD_VALUE = 114
EDGE_PX = 3.0  # a box side within this of a tile's inner edge touches it


@dataclass(frozen=True)
class View:
    """A window of the frame, ``x0, y0`` its top-left corner in frame pixels, seen at ``scale``
    (network pixels per frame pixel) on a canvas of ``canvas_hw``; ``inner`` marks which of its
    sides (left, top, right, bottom) lie inside the frame rather than on its border."""

    x0: int
    y0: int
    width: int
    height: int
    scale: float
    canvas_hw: tuple[int, int]
    inner: tuple[bool, bool, bool, bool] = (False, False, False, False)


def _ceil32(x: float) -> int:
    return max(32, int(math.ceil(x / 32.0)) * 32)


def whole_frame_view(height: int, width: int, input_size: int) -> View:
    """The letterboxed whole frame; ``input_size`` 0 keeps the frame's own resolution."""
    scale = input_size / max(height, width) if input_size > 0 else 1.0
    canvas = (_ceil32(round(height * scale)), _ceil32(round(width * scale)))
    return View(0, 0, width, height, scale, canvas)


def _starts(length: int, lo: int, hi: int, tile: int, overlap: float) -> list[int]:
    """Window starts covering ``[lo, hi)`` with windows of ``tile`` overlapping by ``overlap``."""
    span = hi - lo
    if span <= tile:
        centre = (lo + hi) / 2
        return [int(min(max(round(centre - tile / 2), 0), max(length - tile, 0)))]
    n = math.ceil((span - tile) / (tile * (1.0 - overlap))) + 1
    return [int(round(v)) for v in np.linspace(lo, hi - tile, n)]


def tile_views(
    height: int, width: int, tile: int, overlap: float, band: tuple[float, float] = (0.0, 1.0)
) -> list[View]:
    """Tiles of ``tile`` frame pixels at native resolution over the rows ``band`` of the frame."""
    if tile <= 0 or (tile >= width and tile >= height):
        return []
    y_lo, y_hi = int(band[0] * height), int(math.ceil(band[1] * height))
    views = []
    for y0 in _starts(height, y_lo, y_hi, tile, overlap):
        for x0 in _starts(width, 0, width, tile, overlap):
            w, h = min(tile, width - x0), min(tile, height - y0)
            inner = (x0 > 0, y0 > 0, x0 + w < width, y0 + h < height)
            views.append(View(x0, y0, w, h, 1.0, (_ceil32(tile), _ceil32(tile)), inner))
    return views


def band_view(height: int, width: int, band: tuple[float, float], size: int) -> View:
    """The full-width strip of rows ``band`` (fractions of the height), scaled to ``size``
    network pixels wide (so the same setting suits every frame size)."""
    y_lo, y_hi = int(band[0] * height), int(math.ceil(band[1] * height))
    zoom = size / width
    canvas = (_ceil32(round((y_hi - y_lo) * zoom)), _ceil32(round(width * zoom)))
    return View(0, y_lo, width, y_hi - y_lo, zoom, canvas, (False, y_lo > 0, False, y_hi < height))


def render_view(image: np.ndarray, view: View) -> np.ndarray:
    """The view's canvas (H, W, 3) uint8: the window, scaled, top-left, padded with 114."""
    import cv2

    window = image[view.y0 : view.y0 + view.height, view.x0 : view.x0 + view.width]
    if view.scale != 1.0:
        size = (max(1, round(view.width * view.scale)), max(1, round(view.height * view.scale)))
        window = cv2.resize(window, size, interpolation=cv2.INTER_LINEAR)
    h, w = view.canvas_hw
    if window.shape[:2] == (h, w):
        return window
    canvas = np.full((h, w, 3), PAD_VALUE, np.uint8)
    canvas[: window.shape[0], : window.shape[1]] = window[:h, :w]
    return canvas


class YoloxDetector:
    """A YOLOX network of the named size seeing each frame as the views of ``settings``
    (a ``DetectorConfig``: input_size, band_size, tile_size, tile_band, ...; see the module)."""

    def __init__(self, size: str = "nano", settings: DetectorConfig | None = None, threads: int = 0) -> None:
        import torch

        s = settings if settings is not None else DetectorConfig(kind=f"yolox-{size}")
        s.validate("detector")
        if size not in SIZES:
            raise ValueError(f"unknown YOLOX size {size!r}; valid: {', '.join('yolox-' + s for s in SIZES)}")
        self.settings = s
        self.score_threshold = s.score_floor(SCORE_FLOOR)
        self.device = resolve_device(s.device)
        self.class_names = tuple(COCO_CLASSES)
        self.keep_class = class_filter(self.class_names, s.classes or ROAD_USERS)
        if s.weights == "none":  # random weights: speed measurements, tests
            self.weights_path, net = None, YOLOX(size).eval().fuse()
        else:
            self.weights_path = find_weights(size, s.weights or None)
            net = load_network(size, self.weights_path)
        self.half = self.device == "cuda"
        if s.runtime == "onnxruntime" and self.device == "cuda":
            raise ValueError("detector.runtime onnxruntime runs on the CPU; use torch (or auto) with cuda")
        self.runtime = "onnxruntime" if s.runtime == "auto" and self.device == "cpu" else s.runtime
        if self.runtime == "auto":
            self.runtime = "torch"
        threads = threads or torch.get_num_threads()
        # channels-last lets oneDNN run the (depthwise) convolutions without layout changes.
        self.model = net.to(self.device, memory_format=torch.channels_last)
        if self.half:
            self.model.half()
        self._session = onnx_session(net, threads) if self.runtime == "onnxruntime" else None
        self.runs_batches = self.device == "cuda"  # on a CPU a batch only holds results back
        self.cpu_threads = threads if self.device == "cpu" else 0
        self._keep = torch.from_numpy(self.keep_class).to(self.device)
        self._grids: dict[tuple[int, int], tuple] = {}

    def views(self, height: int, width: int) -> list[View]:
        """Every view of a frame of this size, the whole frame first."""
        s = self.settings
        tiles = tile_views(height, width, s.tile_size, s.tile_overlap, s.tile_band)
        if s.band_size > 0:
            tiles.append(band_view(height, width, s.tile_band, s.band_size))
        return [whole_frame_view(height, width, s.input_size), *tiles]

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        if not frames:
            return []
        jobs = [(i, view) for i, f in enumerate(frames) for view in self.views(*f.image.shape[:2])]
        found: list[list[tuple]] = [[] for _ in frames]
        for shape in dict.fromkeys(view.canvas_hw for _, view in jobs):
            group = [(i, view) for i, view in jobs if view.canvas_hw == shape]
            outputs = self._forward([render_view(frames[i].image, view) for i, view in group])
            for (i, view), out in zip(group, outputs, strict=True):
                found[i].append(self._decode(out, view))
        return [self._merge(parts, f.image.shape[:2]) for parts, f in zip(found, frames, strict=True)]

    def _forward(self, canvases: list[np.ndarray]):
        import torch

        if self._session is not None:
            blob = np.ascontiguousarray(np.stack(canvases).transpose(0, 3, 1, 2), np.float32)
            return torch.from_numpy(self._session.run(None, {"images": blob})[0])
        batch = torch.from_numpy(np.stack(canvases)).to(self.device).permute(0, 3, 1, 2)
        batch = batch.half() if self.half else batch.float()
        batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self.model(batch)

    def _grid(self, hw: tuple[int, int]):
        if hw not in self._grids:
            cells, strides = anchor_grid(*hw)
            self._grids[hw] = (cells.to(self.device), strides.to(self.device))
        return self._grids[hw]

    def _decode(self, out, view: View) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One view's raw output (A, 5 + C) to boxes in frame pixels, scores, classes, and
        whether each box touches an inner edge of the view."""
        import torch

        anchors = torch.nonzero(out[:, 4] >= self.score_threshold).squeeze(1)
        out = out[anchors].float()
        scores = (out[:, 4:5] * out[:, 5:]) * self._keep
        score, cls = scores.max(dim=1)
        keep = score >= self.score_threshold
        cells, strides = self._grid(view.canvas_hw)
        anchors, out, score, cls = anchors[keep], out[keep], score[keep], cls[keep]
        centre = (out[:, 0:2] + cells[anchors]) * strides[anchors]
        half = torch.exp(out[:, 2:4].clamp(-10, 10)) * strides[anchors] / 2
        xyxy = torch.cat((centre - half, centre + half), 1) / view.scale
        xyxy = xyxy.cpu().numpy().astype(np.float64)
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, view.width) + view.x0
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, view.height) + view.y0
        edges = np.array([view.x0, view.y0, view.x0 + view.width, view.y0 + view.height], np.float64)
        near = np.abs(xyxy - edges) <= EDGE_PX
        touches = (near & np.array(view.inner)).any(axis=1)
        return xyxy, score.cpu().numpy().astype(np.float64), cls.cpu().numpy().astype(np.int64), touches

    def _merge(self, parts: list[tuple], image_hw: tuple[int, int]) -> Detections:
        xyxy, score, cls, cut = (np.concatenate(p) for p in zip(*parts, strict=True))
        if len(xyxy) == 0:
            return Detections.empty()
        xyxy, score, cls = xyxy[~cut], score[~cut], cls[~cut]
        kept = class_nms(xyxy, score, cls, self.settings.nms_iou)
        if self.settings.cross_class_iou < 1.0:  # one object found as, say, both car and truck
            kept = kept[
                class_nms(xyxy[kept], score[kept], np.zeros_like(cls[kept]), self.settings.cross_class_iou)
            ]
        h, w = image_hw
        out = xyxy[kept]
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
        return Detections(out, score[kept], cls[kept])


def class_nms(xyxy: np.ndarray, score: np.ndarray, cls: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by per-class non-maximum suppression, highest score first."""
    import torch
    from torchvision.ops import batched_nms

    kept = batched_nms(torch.from_numpy(xyxy), torch.from_numpy(score), torch.from_numpy(cls), iou)
    return kept.numpy()


def onnx_session(net, threads: int):
    """The torch network exported (in memory, any input size) and opened in onnxruntime
    (``tracker.onnx_cpu``), which runs YOLOX-nano 1.5-1.8x faster than torch on a CPU, so
    ``runtime: auto`` uses it there."""
    import torch

    axes = {"images": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 1: "anchors"}}
    net = net.float().to(memory_format=torch.contiguous_format)
    return cpu_session(net, (torch.zeros(1, 3, 64, 64),), ["images"], ["output"], axes, threads)
