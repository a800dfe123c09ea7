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
                self._label(out, f"{track_id} {self._name(classes[i])} {scores[i]:.2f}", x1, y1, colour)
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
    def _label(out: np.ndarray, text: str, x1: int, y1: int, colour) -> None:
        import cv2

        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        top = max(y1 - th - base - 2, 0)
        cv2.rectangle(out, (x1, top), (x1 + tw + 4, top + th + base + 2), colour, -1)
        cv2.putText(
            out, text, (x1 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA
        )

    def _name(self, class_id: int) -> str:
        return self.class_names[class_id] if 0 <= class_id < len(self.class_names) else str(class_id)
