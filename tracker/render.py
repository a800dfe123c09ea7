"""The only module that draws: boxes coloured by track id, labels, trails and predicted paths."""

from __future__ import annotations

import colorsys

import numpy as np

from .config import RenderConfig
from .structures import Track


def colour_of(track_id: int) -> tuple[int, int, int]:
    """A stable, well separated BGR colour per id (golden-ratio hue steps)."""
    r, g, b = colorsys.hsv_to_rgb((track_id * 0.618033988749895) % 1.0, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


class Renderer:
    """``annotate(image, tracks, paths) -> image``: draws on a copy, never on the input."""

    def __init__(self, config: RenderConfig, class_names: tuple[str, ...]) -> None:
        self.config = config
        self.class_names = class_names

    def annotate(
        self, image: np.ndarray, tracks: list[Track], paths: dict[int, np.ndarray] | None = None
    ) -> np.ndarray:
        import cv2

        out = image.copy()
        c = self.config
        for track in tracks:
            colour = colour_of(track.id)
            if c.trails and len(track.history) > 1:
                centres = (track.history[:, 1:3] + track.history[:, 3:5]) / 2
                cv2.polylines(
                    out, [np.round(centres).astype(np.int32)], False, colour, max(1, c.thickness - 1)
                )
            if c.predicted_paths and paths and track.id in paths and len(paths[track.id]) > 1:
                points = np.round(paths[track.id]).astype(np.int32)
                for a, b in zip(points[:-1:2], points[1::2], strict=False):
                    cv2.line(out, tuple(int(v) for v in a), tuple(int(v) for v in b), colour, 1)
            x1, y1, x2, y2 = (int(round(float(v))) for v in track.xyxy)
            if c.boxes:
                cv2.rectangle(out, (x1, y1), (x2, y2), colour, c.thickness)
            if c.labels:
                name = self._name(track.class_id)
                text = f"{track.id} {name} {track.score:.2f}"
                (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
                top = max(y1 - th - base - 2, 0)
                cv2.rectangle(out, (x1, top), (x1 + tw + 4, top + th + base + 2), colour, -1)
                cv2.putText(
                    out,
                    text,
                    (x1 + 2, top + th + 1),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.5,
                    (0, 0, 0),
                    1,
                    cv2.LINE_AA,
                )
        return out

    def _name(self, class_id: int) -> str:
        return self.class_names[class_id] if 0 <= class_id < len(self.class_names) else str(class_id)
