"""Synthetic moving-box videos with exact ground truth.

The spec: axis-aligned filled rectangles of saturated solid colours (mild shading), 16-300 px a
side, aspect 0.3-3, over a grey road-like background with noise texture and lane markings, seen
by a panning camera; objects enter and leave at the borders, speed up, slow down, grow, cross
and occlude one another. Frame sizes 320x240 to 1280x720, 10-30 fps. Ground truth in MOT
format; boxes that are mostly hidden are marked (flag 0) so that evaluation ignores them.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

# Below this visible fraction a box is "mostly hidden": flag 0, ignored by evaluation.
MIN_VISIBILITY = 0.25


@dataclass(frozen=True)
class SynthConfig:
    width: int = 640
    height: int = 360
    fps: float = 15.0
    num_frames: int = 150
    max_objects: int = 8
    min_side: int = 16
    max_side: int = 300
    pan_speed: float = 40.0  # pixels per second, at most
    # Random change of the pan velocity per frame, as a fraction of pan_speed (camera shake).
    pan_jitter: float = 0.1
    seed: int = 0

    def validate(self) -> SynthConfig:
        if not (320 <= self.width <= 1280 and 240 <= self.height <= 720):
            raise ValueError(f"frame size must be 320x240 to 1280x720, got {self.width}x{self.height}")
        if not 10 <= self.fps <= 30:
            raise ValueError(f"fps must be 10 to 30, got {self.fps}")
        if self.num_frames < 1 or self.max_objects < 1:
            raise ValueError("num_frames and max_objects must be positive")
        return self


@dataclass
class _Object:
    id: int
    colour: np.ndarray  # (3,) uint8 BGR
    cx: float  # world coordinates (the camera pans over the world)
    cy: float
    w: float
    h: float
    vx: float  # pixels per second
    vy: float
    growth: float  # relative size change per second
    accel: float  # relative speed change per second
    depth: float  # larger is nearer (drawn later)
    shading: float


@dataclass
class FrameTruth:
    """Ground truth of one frame: visible boxes (clipped to the image) and their visibility."""

    ids: np.ndarray
    xyxy: np.ndarray
    visibility: np.ndarray


@dataclass
class SyntheticVideo:
    config: SynthConfig
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.config.validate()
        self.rng = np.random.default_rng(self.config.seed)

    def _background(self) -> np.ndarray:
        c, rng = self.config, self.rng
        margin = self._margin_px()
        h, w = c.height + 2 * margin, c.width + 2 * margin
        base = rng.integers(95, 140)
        noise = rng.normal(0, 9, (h // 4 + 1, w // 4 + 1))
        noise = np.kron(noise, np.ones((4, 4)))[:h, :w] + rng.normal(0, 4, (h, w))
        canvas = np.clip(base + noise, 0, 255)
        lane_gap = rng.integers(c.width // 4, c.width // 2)
        for x in range(int(rng.integers(0, lane_gap)), w, int(lane_gap)):
            for y in range(0, h, 60):
                canvas[y : y + 30, x : x + 6] = 225
        self._margin = margin
        return np.repeat(canvas[:, :, None], 3, axis=2).astype(np.uint8)

    def _margin_px(self) -> int:
        c = self.config
        # Room for the whole pan, but no more than 1200 px a side (the camera turns back there).
        return min(int(c.pan_speed * c.num_frames / c.fps), 1200) + 8

    def _spawn(self, next_id: int, cam: np.ndarray, anywhere: bool) -> _Object:
        c, rng = self.config, self.rng
        side = float(np.exp(rng.uniform(np.log(c.min_side), np.log(min(c.max_side, c.height * 0.8)))))
        aspect = float(np.exp(rng.uniform(np.log(0.3), np.log(3.0))))
        w, h = side * np.sqrt(aspect), side / np.sqrt(aspect)
        w, h = float(np.clip(w, c.min_side, c.max_side)), float(np.clip(h, c.min_side, c.max_side))
        speed = rng.uniform(20, 160)
        if anywhere:
            cx, cy = rng.uniform(0, c.width), rng.uniform(0, c.height)
            angle = rng.uniform(0, 2 * np.pi)
        else:  # enter from a border, heading inwards
            edge = rng.integers(4)
            cx = [-w / 2 + 1, c.width + w / 2 - 1, rng.uniform(0, c.width), rng.uniform(0, c.width)][edge]
            cy = [rng.uniform(0, c.height), rng.uniform(0, c.height), -h / 2 + 1, c.height + h / 2 - 1][edge]
            inward = np.arctan2(c.height / 2 - cy, c.width / 2 - cx)
            angle = inward + rng.uniform(-0.6, 0.6)
        r, g, b = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.85, 1.0), rng.uniform(0.8, 1.0))
        return _Object(
            id=next_id,
            colour=(np.array([b, g, r]) * 255).astype(np.uint8),
            cx=cx + cam[0],
            cy=cy + cam[1],
            w=w,
            h=h,
            vx=speed * np.cos(angle),
            vy=speed * np.sin(angle),
            growth=rng.uniform(-0.15, 0.25),
            accel=rng.uniform(-0.3, 0.3),
            depth=rng.uniform(),
            shading=rng.uniform(0.75, 1.0),
        )

    def frames(self) -> Iterator[tuple[np.ndarray, FrameTruth]]:
        """Yield ``(image BGR uint8, truth)`` for every frame."""
        background = self._background()
        for cam, objects in self._simulate():
            yield self._render(background, cam, objects)

    def boxes(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(ids, xyxy)`` of every object on screen, per frame, without drawing: whole
        boxes in image coordinates (not clipped, occlusion ignored). Cheap; for trajectories.
        The scene differs from ``frames()``' for the same seed (no background is drawn)."""
        self._margin = self._margin_px()
        for cam, objects in self._simulate():
            ids = np.array([o.id for o in objects], np.int64)
            xyxy = np.array(
                [
                    (
                        o.cx - o.w / 2 - cam[0],
                        o.cy - o.h / 2 - cam[1],
                        o.cx + o.w / 2 - cam[0],
                        o.cy + o.h / 2 - cam[1],
                    )
                    for o in objects
                ],
                np.float64,
            ).reshape(-1, 4)
            yield ids, xyxy

    def _simulate(self) -> Iterator[tuple[np.ndarray, list[_Object]]]:
        c, rng = self.config, self.rng
        dt = 1.0 / c.fps
        cam = np.zeros(2)
        pan = rng.uniform(-1, 1, 2) * c.pan_speed
        objects: list[_Object] = []
        next_id = 1
        for _ in range(int(rng.integers(1, c.max_objects + 1))):
            objects.append(self._spawn(next_id, cam, anywhere=True))
            next_id += 1
        for _ in range(c.num_frames):
            yield cam, objects
            # move the world and the camera
            pan += rng.normal(0, c.pan_speed * c.pan_jitter, 2)
            pan = np.clip(pan, -c.pan_speed, c.pan_speed)
            cam = cam + pan * dt
            outside = np.abs(cam) > self._margin - 1
            pan[outside] *= -1
            cam = np.clip(cam, -self._margin + 1, self._margin - 1)
            for o in objects:
                factor = 1 + o.accel * dt
                o.vx, o.vy = o.vx * factor, o.vy * factor
                if rng.uniform() < 0.02:
                    o.accel = rng.uniform(-0.5, 0.5)
                o.cx += o.vx * dt
                o.cy += o.vy * dt
                grow = 1 + o.growth * dt
                o.w = float(np.clip(o.w * grow, c.min_side, c.max_side))
                o.h = float(np.clip(o.h * grow, c.min_side, c.max_side))
            objects = [o for o in objects if self._on_screen(o, cam)]
            # New objects enter about once a second, and the scene is never left empty.
            if not objects or (len(objects) < c.max_objects and rng.uniform() < 1.2 * dt):
                objects.append(self._spawn(next_id, cam, anywhere=False))
                next_id += 1

    def _on_screen(self, o: _Object, cam: np.ndarray) -> bool:
        x, y = o.cx - cam[0], o.cy - cam[1]
        return -o.w / 2 < x < self.config.width + o.w / 2 and -o.h / 2 < y < self.config.height + o.h / 2

    def _render(self, background: np.ndarray, cam: np.ndarray, objects: list[_Object]):
        c = self.config
        ox, oy = int(round(self._margin + cam[0])), int(round(self._margin + cam[1]))
        image = background[oy : oy + c.height, ox : ox + c.width].copy()
        owner = np.zeros((c.height, c.width), np.int64)
        full_area, boxes, ids = [], [], []
        for o in sorted(objects, key=lambda o: o.depth):
            x1, y1 = o.cx - o.w / 2 - cam[0], o.cy - o.h / 2 - cam[1]
            x2, y2 = x1 + o.w, y1 + o.h
            ix1, iy1 = max(int(round(x1)), 0), max(int(round(y1)), 0)
            ix2, iy2 = min(int(round(x2)), c.width), min(int(round(y2)), c.height)
            if ix2 <= ix1 or iy2 <= iy1:
                continue
            shade = np.linspace(1.0, o.shading, iy2 - iy1)[:, None, None]
            image[iy1:iy2, ix1:ix2] = (o.colour[None, None, :] * shade).astype(np.uint8)
            owner[iy1:iy2, ix1:ix2] = o.id
            ids.append(o.id)
            boxes.append((ix1, iy1, ix2, iy2))
            full_area.append((ix2 - ix1) * (iy2 - iy1))
        if not ids:
            return image, FrameTruth(np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0))
        counts = np.bincount(owner.ravel(), minlength=max(ids) + 1)
        visible = np.array([counts[i] for i in ids]) / np.maximum(full_area, 1)
        return image, FrameTruth(np.array(ids), np.array(boxes, np.float32), visible)


def mot_gt_lines(frame_index: int, truth: FrameTruth) -> list[str]:
    """MOT ground-truth lines (1-based frame; flag 0 for mostly hidden boxes; class 1)."""
    lines = []
    for tid, box, vis in zip(truth.ids, truth.xyxy, truth.visibility, strict=True):
        flag = 1 if vis >= MIN_VISIBILITY else 0
        w, h = box[2] - box[0], box[3] - box[1]
        lines.append(
            f"{frame_index + 1},{tid},{box[0]:.0f},{box[1]:.0f},{w:.0f},{h:.0f},{flag},1,{vis:.3f}\n"
        )
    return lines


def write_synthetic(config: SynthConfig, video_path, gt_path) -> None:
    """Write the video (H.264) and its MOT ground truth, each atomically."""
    from ..formats import write_lines_atomic
    from ..sink import VideoWriter

    writer = VideoWriter(video_path, config.fps)
    lines: list[str] = []
    try:
        for i, (image, truth) in enumerate(SyntheticVideo(config).frames()):
            writer.write(image)
            lines += mot_gt_lines(i, truth)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    write_lines_atomic(gt_path, lines)
