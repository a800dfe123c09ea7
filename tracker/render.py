"""The only module that draws: boxes coloured by track id, labels, trails and predicted paths."""

from __future__ import annotations

import colorsys

import numpy as np

from .config import RenderConfig
from .structures import Tracks, Trails


def colour_of(track_id: int) -> tuple[int, int, int]:
    """A stable, well separated BGR colour per id (golden-ratio hue steps)."""
    r, g, b = colorsys.hsv_to_rgb((track_id * 0.618033988749895) % 1.0, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


class Renderer:
    """``annotate(image, tracks, trails, paths) -> image``: draws on a copy, never on the input.

    ``tracks`` is a frame's ``Tracks``; ``trails`` their recent boxes row for row
    (``Tracker.trails``); ``paths`` predicted centre paths by id (``Tracker.predicted_paths``).
    """

    def __init__(self, config: RenderConfig, class_names: tuple[str, ...]) -> None:
        self.config = config
        self.class_names = class_names

    def annotate(
        self,
        image: np.ndarray,
        tracks: Tracks,
        trails: Trails | None = None,
        paths: dict[int, np.ndarray] | None = None,
    ) -> np.ndarray:
        out = image.copy()
        c = self.config
        ids, classes, scores = tracks.id.tolist(), tracks.class_id.tolist(), tracks.score.tolist()
        boxes = tracks.xyxy.tolist()
        labels: list[tuple[str, tuple[int, int, int, int], tuple[int, int, int]]] = []
        for i, track_id in enumerate(ids):
            colour = colour_of(track_id)
            if c.trails and trails is not None and trails.length[i] > 1:
                self._trail(out, trails.xyxy[i, : trails.length[i]], colour)
            if c.predicted_paths and paths and track_id in paths and len(paths[track_id]) > 1:
                self._path(out, paths[track_id], colour)
            x1, y1, x2, y2 = (int(round(v)) for v in boxes[i])
            if c.boxes:
                import cv2

                cv2.rectangle(out, (x1, y1), (x2, y2), colour, c.thickness)
            if c.labels:
                labels.append(
                    (f"{track_id} {self._name(classes[i])} {scores[i]:.2f}", (x1, y1, x2, y2), colour)
                )
        if labels:  # after every box and trail, so that none is drawn across a label
            self._labels(out, labels)
        return out

    def _trail(self, out: np.ndarray, xyxy: np.ndarray, colour) -> None:
        import cv2

        boxes = xyxy.astype(np.float64)
        centres = (boxes[:, 0:2] + boxes[:, 2:4]) / 2
        thickness = max(1, self.config.thickness - 1)
        cv2.polylines(out, [np.round(centres).astype(np.int32)], False, colour, thickness)

    @staticmethod
    def _path(out: np.ndarray, path: np.ndarray, colour) -> None:
        import cv2

        points = np.round(path).astype(np.int32)
        for a, b in zip(points[:-1:2], points[1::2], strict=False):
            cv2.line(out, tuple(int(v) for v in a), tuple(int(v) for v in b), colour, 1)

    @staticmethod
    def _labels(out: np.ndarray, labels: list) -> None:
        import cv2

        sizes = []
        for text, _, _ in labels:
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
            sizes.append((tw + 4, th + base + 2, th))
        corners = place_labels([(w, h) for w, h, _ in sizes], [b for _, b, _ in labels], out.shape[:2])
        for (text, _, colour), (w, h, th), (x, y) in zip(labels, sizes, corners, strict=True):
            cv2.rectangle(out, (x, y), (x + w, y + h), colour, -1)
            cv2.putText(
                out, text, (x + 2, y + th + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA
            )

    def _name(self, class_id: int) -> str:
        return self.class_names[class_id] if 0 <= class_id < len(self.class_names) else str(class_id)


def place_labels(
    sizes: list[tuple[int, int]], boxes: list[tuple[int, int, int, int]], shape: tuple[int, int]
) -> list[tuple[int, int]]:
    """Top-left corners for labels of ``sizes`` (w, h) on ``boxes`` (x1, y1, x2, y2) in an
    image of ``shape`` (height, width): above the box, else just inside its top, else below
    it, whichever covers the least of the labels placed before (in dense traffic the corners
    of neighbouring boxes meet, and labels drawn on one another are unreadable); the first of
    those that cover none. Every label stays inside the image."""
    height, width = shape
    placed = np.zeros((len(sizes), 4))
    corners = []
    for i, ((w, h), (x1, y1, _, y2)) in enumerate(zip(sizes, boxes, strict=True)):
        x = min(max(x1, 0), max(width - w - 1, 0))
        tops = np.clip([y1 - h, y1, y2 + 1], 0, max(height - h - 1, 0))
        before = placed[:i]
        across = np.clip(np.minimum(x + w, before[:, 2]) - np.maximum(x, before[:, 0]), 0, None)
        down = np.clip(
            np.minimum(tops[:, None] + h, before[None, :, 3]) - np.maximum(tops[:, None], before[None, :, 1]),
            0,
            None,
        )
        # Pixels of earlier labels each choice would cover; the first of equals (above the box).
        y = int(tops[int(np.argmin((down * across[None, :]).sum(axis=1)))])
        placed[i] = (x, y, x + w, y + h)
        corners.append((x, y))
    return corners
