"""The built-in CNN detector for synthetic moving-box videos (``--detector builtin``).

A small CenterNet-style network: the image is scaled so that its long side is ``INPUT_SIDE``
pixels; at stride 4 the network predicts a heat map of box centres, each box's size and the
centre's sub-cell offset. An encoder down to stride 32 merged back top-down sees the whole
input, so the largest boxes and boxes cut by the border are found too. Peaks of the heat map
(3x3 max-pool) are the detections. The network sees the image with its saturation stretched,
so that pale colours look like the saturated ones it was trained on. The network proposes;
``refine.snap_edges`` then moves each side onto the colour edge it sits near, to the pixel, and
``refine.split_at_seams`` splits a box that covers two touching objects of one hue.

Weights are trained by ``track train-detector`` on the project's generator and ship inside the
package (``weights/boxnet.pt``, loaded with ``torch.load(..., weights_only=True)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..source import Frame
from ..structures import Detections
from .nms import batched_nms
from .refine import snap_edges, split_at_seams

INPUT_SIDE = 512
STRIDE = 4
WEIGHTS = Path(__file__).with_name("weights") / "boxnet.pt"
CLASS_NAMES = ("box",)
NMS_IOU = 0.5
# The network was trained on saturated colours (HSV saturation 0.85-1) and misses pale ones: at
# saturation below 0.3 it found 2 % of the boxes of `benchmarks/alt_generator.py --mode pale`.
# Its input (only; the sides are snapped on the image as it is) has saturation stretched so
# that pale colours read as saturated and the grey road (saturation ~0 after a codec) as grey:
# GREY_SATURATION and below -> 0, FULL_SATURATION -> 0.85, flat to 0.85, then unchanged, so the
# colours it was trained on stay as they were (stretching them to 1 too cost 0.9 HOTA on the
# project's generator, measured).
GREY_SATURATION = 0.04
FULL_SATURATION = 0.25
_SATURATION_KNOTS = ([0, GREY_SATURATION, FULL_SATURATION, 0.85, 1], [0, 0, 0.85, 0.85, 1])
_SATURATION_LUT = np.round(np.interp(np.arange(256) / 255, *_SATURATION_KNOTS) * 255).astype(np.uint8)


def build_network():
    """The BoxNet module (torch is imported here so that importing this file stays cheap)."""
    import torch
    from torch import nn
    from torch.nn.functional import interpolate

    def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    class Residual(nn.Module):
        def __init__(self, channels: int, dilation: int = 1) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
            )

        def forward(self, x):
            return torch.relu(x + self.body(x))

    class BoxNet(nn.Module):
        """Encoder down to stride 32 (a receptive field wider than the input, so that the
        largest and border-cut boxes are seen whole), top-down merge back to stride 4."""

        def __init__(self, widths: tuple[int, int, int, int] = (32, 48, 64, 96)) -> None:
            super().__init__()
            w4, w8, w16, w32 = widths
            self.stem = nn.Sequential(conv_bn(3, 16, 2), conv_bn(16, w4, 2), Residual(w4))
            self.down8 = nn.Sequential(conv_bn(w4, w8, 2), Residual(w8))
            self.down16 = nn.Sequential(conv_bn(w8, w16, 2), Residual(w16), Residual(w16, 2))
            self.down32 = nn.Sequential(conv_bn(w16, w32, 2), Residual(w32), Residual(w32, 2))
            self.lateral = nn.ModuleList(nn.Conv2d(c, w4, 1) for c in widths)
            self.merge = nn.ModuleList(conv_bn(w4, w4) for _ in range(3))
            self.heatmap = nn.Conv2d(w4, 1, 1)
            self.size = nn.Conv2d(w4, 2, 1)  # log of box width and height, in cells
            self.offset = nn.Conv2d(w4, 2, 1)  # centre offset within the cell, 0..1
            nn.init.constant_(self.heatmap.bias, -4.0)  # start from "nothing here"

        def forward(self, x):
            c4 = self.stem(x)
            c8 = self.down8(c4)
            c16 = self.down16(c8)
            top = self.lateral[3](self.down32(c16))
            for level, skip in ((2, c16), (1, c8), (0, c4)):
                top = interpolate(top, size=skip.shape[-2:], mode="nearest") + self.lateral[level](skip)
                top = self.merge[level](top)
            return self.heatmap(top), self.size(top), self.offset(top)

    return BoxNet()


def input_size(height: int, width: int) -> tuple[int, int, float]:
    """Network input (height, width), multiples of 32, and the scale from the image."""
    scale = INPUT_SIDE / max(height, width)
    h = int(np.ceil(height * scale / 32) * 32)
    w = int(np.ceil(width * scale / 32) * 32)
    return h, w, scale


def stretch_saturation(image: np.ndarray) -> np.ndarray:
    """BGR uint8 image -> the same with HSV saturation stretched (``_SATURATION_LUT``): pale
    colours become saturated, grey stays grey, saturated colours stay; hue and value are kept."""
    import cv2

    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hsv[..., 1] = cv2.LUT(hsv[..., 1], _SATURATION_LUT)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def to_tensor(images: Sequence[np.ndarray]):
    """Batch of BGR uint8 images (same size) -> float tensor (B, 3, H, W), 0..1, padded;
    saturation stretched (``stretch_saturation``)."""
    import cv2
    import torch

    height, width = images[0].shape[:2]
    h, w, scale = input_size(height, width)
    batch = np.zeros((len(images), h, w, 3), np.uint8)
    sh, sw = int(round(height * scale)), int(round(width * scale))
    for i, image in enumerate(images):
        batch[i, :sh, :sw] = stretch_saturation(cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA))
    tensor = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)
    return tensor, scale


def decode(heatmap, size, offset, scale: float, threshold: float, max_objects: int = 100) -> list[Detections]:
    """Network outputs (logits) to detections in image pixels."""
    import torch
    from torch.nn.functional import max_pool2d

    prob = torch.sigmoid(heatmap.float())
    peaks = prob * (max_pool2d(prob, 3, stride=1, padding=1) == prob)
    out = []
    for b in range(prob.shape[0]):
        flat = peaks[b, 0].flatten()
        k = min(max_objects, flat.numel())
        scores, idx = torch.topk(flat, k)
        keep = scores >= threshold
        scores, idx = scores[keep], idx[keep]
        width = prob.shape[3]
        ys, xs = (idx // width).float(), (idx % width).float()
        off = offset[b, :, (idx // width), (idx % width)].float()
        wh = torch.exp(size[b, :, (idx // width), (idx % width)].float().clamp(-3, 6)) * STRIDE
        cx = (xs + off[0]) * STRIDE
        cy = (ys + off[1]) * STRIDE
        boxes = torch.stack([cx - wh[0] / 2, cy - wh[1] / 2, cx + wh[0] / 2, cy + wh[1] / 2], dim=1) / scale
        boxes_np, scores_np = boxes.cpu().numpy(), scores.cpu().numpy()
        classes = np.zeros(len(scores_np), np.int64)
        # Large boxes can give several peaks; keep the best of overlapping ones.
        kept = batched_nms(boxes_np, scores_np, classes, NMS_IOU)
        out.append(Detections(boxes_np[kept], scores_np[kept], classes[kept]))
    return out


def refine(image: np.ndarray, dets: Detections) -> Detections:
    """Sides snapped onto colour edges, boxes over two touching same-hue objects split in two,
    and duplicates that this makes (a pair the network also found one by one) removed."""
    xyxy = snap_edges(image, dets.xyxy)
    xyxy, source = split_at_seams(image, xyxy)
    score, class_id = dets.score[source], dets.class_id[source]
    kept = np.sort(batched_nms(xyxy, score, class_id, NMS_IOU))
    return Detections(xyxy[kept], score[kept], class_id[kept])


class BuiltinDetector:
    """The shipped BoxNet. One class, ``box``."""

    class_names = CLASS_NAMES

    def __init__(
        self,
        weights: str | Path | None = None,
        device: str = "auto",
        score_threshold: float = 0.1,
        refine_edges: bool = True,
    ):
        import torch

        from .base import resolve_device

        path = Path(weights) if weights else WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(
                f"built-in detector weights not found: {path} (train them: track train-detector)"
            )
        self.device = resolve_device(device)
        self.model = build_network()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            self.model.load_state_dict(state)
        except Exception as exc:  # unpickling or shape errors: a bad file for the user
            raise ValueError(f"{path}: not BoxNet weights ({str(exc).splitlines()[0][:160]})") from None
        self.model.eval().to(self.device)
        self.half = self.device == "cuda"
        # On the CPU a batch costs as much as its frames one by one (measured), and waiting
        # for one only holds results back.
        self.runs_batches = self.device == "cuda"
        self.cpu_threads = torch.get_num_threads() if self.device == "cpu" else 0
        if self.half:
            self.model.half()
        self.score_threshold = score_threshold
        self.refine_edges = refine_edges

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        import torch

        if not frames:
            return []
        out: list[Detections] = []
        # Frames of one batch normally share a size; group them in case they do not.
        start = 0
        while start < len(frames):
            end = start + 1
            while end < len(frames) and frames[end].image.shape == frames[start].image.shape:
                end += 1
            tensor, scale = to_tensor([f.image for f in frames[start:end]])
            tensor = tensor.to(self.device)
            if self.half:
                tensor = tensor.half()
            with torch.inference_mode():
                heatmap, size, offset = self.model(tensor)
            found = decode(heatmap, size, offset, scale, self.score_threshold)
            if self.refine_edges:
                images = [frame.image for frame in frames[start:end]]
                found = [refine(image, dets) for image, dets in zip(images, found, strict=True)]
            out += found
            start = end
        return out
