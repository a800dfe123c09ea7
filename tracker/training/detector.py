"""Training of the built-in BoxNet detector on the project's synthetic generator.

Reproducible (fixed seeds for data and initialisation) and CPU-sized: whole frames scaled as at
inference (long side 512) on a 512x384 canvas, so that the largest boxes are seen whole;
CenterNet targets (Gaussian centre heat map, log size, offset), focal loss. The frames are
degraded as video would degrade them (4:2:0 chroma, exposure, noise) so that the detector does
not depend on the generator's clean pixels. Training seeds start at ``TRAIN_SEED_BASE``;
evaluation uses seeds below it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..detect.builtin import STRIDE, build_network, input_size
from ..eval.synthetic import MIN_VISIBILITY, SynthConfig, SyntheticVideo

log = logging.getLogger(__name__)
TRAIN_SEED_BASE = 10_000
CANVAS = (384, 512)  # height, width: every training frame fits whole
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


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a video codec and a different camera do to a frame: 4:2:0 chroma (half the
    time), exposure and contrast changes, sensor noise."""
    import cv2

    height, width = image.shape[:2]
    if rng.uniform() < 0.5 and height % 2 == 0 and width % 2 == 0:
        # OpenCV's round trip takes one pixel of each 2x2 block for chroma, where real video
        # averages them (``sink.bgr_to_i420``). Kept: it is what the shipped weights were
        # trained with, and the recipe in ``track train-detector --help`` must remake them.
        image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)
    out = image.astype(np.float32) * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20)
    out += rng.normal(0, rng.uniform(0, 6), out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def make_batch(stream: FrameStream, batch_size: int, canvas: tuple[int, int] = CANVAS):
    import cv2
    import torch

    rng = stream.rng
    ch, cw = canvas
    images = np.zeros((batch_size, ch, cw, 3), np.uint8)
    cells_h, cells_w = ch // STRIDE, cw // STRIDE
    heats = np.zeros((batch_size, 1, cells_h, cells_w), np.float32)
    sizes = np.zeros((batch_size, 2, cells_h, cells_w), np.float32)
    offsets = np.zeros((batch_size, 2, cells_h, cells_w), np.float32)
    masks = np.zeros((batch_size, cells_h, cells_w), np.float32)
    for b in range(batch_size):
        image, truth = stream.sample()
        height, width = image.shape[:2]
        _, _, scale = input_size(height, width)
        sh, sw = min(int(round(height * scale)), ch), min(int(round(width * scale)), cw)
        scaled = cv2.resize(degrade(image, rng), (sw, sh), interpolation=cv2.INTER_AREA)
        images[b, :sh, :sw] = scaled
        keep = truth.visibility >= MIN_VISIBILITY
        boxes = truth.xyxy[keep] * scale
        heats[b, 0], sizes[b], offsets[b], masks[b] = _targets(boxes, cells_h, cells_w)
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
    steps: int = 3000,
    batch_size: int = 8,
    seed: int = 0,
    lr: float = 3e-3,
    progress: Callable[[int, float], None] | None = None,
    init: str | Path | None = None,
) -> list[tuple[int, float]]:
    """Train BoxNet and save its state dict (half precision, to keep the package small);
    returns (step, loss) pairs. ``init`` starts from saved weights (fine-tuning)."""
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
        x, heat, size, offset, mask = make_batch(stream, batch_size)
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
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, out_path)
    return history
