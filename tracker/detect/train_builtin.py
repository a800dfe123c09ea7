"""Training of the built-in BoxNet detector on the project's synthetic generator.

Reproducible (fixed seeds for data and initialisation) and CPU-sized: random 256x256 crops of
frames scaled as at inference, CenterNet targets (Gaussian centre heat map, log size, offset),
focal loss. Training seeds start at ``TRAIN_SEED_BASE``; evaluation uses seeds below it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..eval.synthetic import MIN_VISIBILITY, SynthConfig, SyntheticVideo
from .builtin import STRIDE, build_network, input_size

log = logging.getLogger(__name__)
TRAIN_SEED_BASE = 10_000
CROP = 256
SIZES = ((320, 240), (480, 272), (640, 360), (960, 540), (1280, 720))


class FrameStream:
    """Endless training frames: several synthetic videos at once, frames sampled sparsely."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.next_seed = TRAIN_SEED_BASE + seed * 100_000
        self.videos: list = []

    def _new_video(self):
        width, height = SIZES[self.rng.integers(len(SIZES))]
        config = SynthConfig(
            width=width,
            height=height,
            fps=float(self.rng.uniform(10, 30)),
            num_frames=120,
            max_objects=int(self.rng.integers(3, 12)),
            seed=self.next_seed,
        )
        self.next_seed += 1
        return SyntheticVideo(config).frames()

    def sample(self):
        while len(self.videos) < 6:
            self.videos.append(self._new_video())
        i = int(self.rng.integers(len(self.videos)))
        for _ in range(int(self.rng.integers(1, 4))):
            item = next(self.videos[i], None)
            if item is None:
                self.videos[i] = self._new_video()
                return self.sample()
        return item


def _targets(boxes: np.ndarray, cells_h: int, cells_w: int):
    heat = np.zeros((cells_h, cells_w), np.float32)
    size = np.zeros((2, cells_h, cells_w), np.float32)
    offset = np.zeros((2, cells_h, cells_w), np.float32)
    mask = np.zeros((cells_h, cells_w), np.float32)
    ys, xs = np.mgrid[0:cells_h, 0:cells_w]
    for x1, y1, x2, y2 in boxes:
        cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
        ix, iy = int(cx), int(cy)
        if not (0 <= ix < cells_w and 0 <= iy < cells_h):
            continue
        w, h = (x2 - x1) / STRIDE, (y2 - y1) / STRIDE
        sigma = max(0.6, min(w, h) / 6)
        heat = np.maximum(heat, np.exp(-((xs - ix) ** 2 + (ys - iy) ** 2) / (2 * sigma**2)))
        heat[iy, ix] = 1.0
        size[:, iy, ix] = np.log([max(w, 0.5), max(h, 0.5)])
        offset[:, iy, ix] = (cx - ix, cy - iy)
        mask[iy, ix] = 1.0
    return heat, size, offset, mask


def make_batch(stream: FrameStream, batch_size: int, crop: int = CROP):
    import cv2
    import torch

    rng = stream.rng
    images = np.zeros((batch_size, crop, crop, 3), np.uint8)
    cells = crop // STRIDE
    heats = np.zeros((batch_size, 1, cells, cells), np.float32)
    sizes = np.zeros((batch_size, 2, cells, cells), np.float32)
    offsets = np.zeros((batch_size, 2, cells, cells), np.float32)
    masks = np.zeros((batch_size, cells, cells), np.float32)
    for b in range(batch_size):
        image, truth = stream.sample()
        height, width = image.shape[:2]
        _, _, scale = input_size(height, width)
        sh, sw = int(round(height * scale)), int(round(width * scale))
        scaled = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        y0 = int(rng.integers(0, max(sh - crop, 0) + 1))
        x0 = int(rng.integers(0, max(sw - crop, 0) + 1))
        window = scaled[y0 : y0 + crop, x0 : x0 + crop]
        images[b, : window.shape[0], : window.shape[1]] = window
        keep = truth.visibility >= MIN_VISIBILITY
        boxes = truth.xyxy[keep] * scale - np.array([x0, y0, x0, y0], np.float32)
        heats[b, 0], sizes[b], offsets[b], masks[b] = _targets(boxes, cells, cells)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    return x, *(torch.from_numpy(a) for a in (heats, sizes, offsets, masks))


def focal_loss(logits, target):
    """CenterNet's penalty-reduced focal loss, normalised by the number of centres."""
    import torch

    prob = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    neg_weight = (1 - target) ** 4
    pos_loss = -torch.log(prob) * (1 - prob) ** 2 * pos
    neg_loss = -torch.log(1 - prob) * prob**2 * neg_weight * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1.0)


def train(
    out_path: str | Path,
    steps: int = 3500,
    batch_size: int = 12,
    seed: int = 0,
    lr: float = 3e-3,
    progress: Callable[[int, float], None] | None = None,
    crop: int = CROP,
    init: str | Path | None = None,
) -> list[tuple[int, float]]:
    """Train BoxNet and save its state dict; returns (step, loss) pairs.

    ``init`` starts from saved weights (fine-tuning, e.g. on larger ``crop``s so that the largest
    boxes fit whole in a training window).
    """
    import torch

    torch.manual_seed(seed)
    model = build_network()
    if init is not None:
        model.load_state_dict(torch.load(init, map_location="cpu", weights_only=True))
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.15)
    stream = FrameStream(seed)
    history = []
    model.train()
    start = time.time()
    for step in range(steps):
        x, heat, size, offset, mask = make_batch(stream, batch_size, crop)
        pred_heat, pred_size, pred_offset = model(x)
        m = mask.unsqueeze(1)
        n = mask.sum().clamp(min=1.0)
        loss = (
            focal_loss(pred_heat, heat)
            + (torch.abs(pred_size - size) * m).sum() / n
            + (torch.abs(pred_offset - offset) * m).sum() / n
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        value = loss.item()
        history.append((step, value))
        if progress is not None:
            progress(step, value)
    log.info("trained %d steps in %.0f s", steps, time.time() - start)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    torch.save(model.state_dict(), out_path)
    return history
