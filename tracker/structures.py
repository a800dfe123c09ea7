"""Plain data exchanged between stages: detections in, tracks out.

Both are struct-of-arrays: one numpy array per field, one row per box. Boxes are
``xyxy`` in pixels (x1, y1, x2, y2), with x2 > x1 and y2 > y1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class TrackState(IntEnum):
    """Lifecycle of a track: tentative -> confirmed <-> lost -> removed."""

    TENTATIVE = 0
    CONFIRMED = 1
    LOST = 2
    REMOVED = 3


def _as_array(value, dtype, name: str, shape_text: str, ndim: int) -> np.ndarray:
    array = np.asarray(value, dtype=dtype)
    if array.ndim != ndim:
        raise ValueError(f"{name}: expected shape {shape_text}, got {array.shape}")
    return array


@dataclass(frozen=True)
class Detections:
    """Boxes found in one frame.

    Attributes:
        xyxy: float32 (N, 4) boxes in pixels.
        score: float32 (N,) confidences; higher is more certain.
        class_id: int64 (N,) class indices into the detector's class names.
    """

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray

    def __post_init__(self) -> None:
        xyxy = _as_array(self.xyxy, np.float32, "xyxy", "(N, 4)", 2)
        if xyxy.shape[1] != 4 and xyxy.size:
            raise ValueError(f"xyxy: expected shape (N, 4), got {xyxy.shape}")
        xyxy = xyxy.reshape(-1, 4)
        score = _as_array(self.score, np.float32, "score", "(N,)", 1)
        class_id = _as_array(self.class_id, np.int64, "class_id", "(N,)", 1)
        n = len(xyxy)
        for name, arr in (("score", score), ("class_id", class_id)):
            if len(arr) != n:
                raise ValueError(f"{name}: expected shape ({n},) to match xyxy, got {arr.shape}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "class_id", class_id)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index) -> Detections:
        """Select rows by boolean mask, integer indices or slice: ``dets[dets.score > 0.5]``."""
        return Detections(self.xyxy[index], self.score[index], self.class_id[index])

    def rescaled(self, width_factor: float, height_factor: float) -> Detections:
        """The same detections with each box's width and height scaled about its centre."""
        centre = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        half = (self.xyxy[:, 2:] - self.xyxy[:, :2]) / 2 * np.array([width_factor, height_factor], np.float32)
        return Detections(np.hstack([centre - half, centre + half]), self.score, self.class_id)

    def valid_mask(self) -> np.ndarray:
        """Rows whose box and score are finite and whose box has positive width and height."""
        finite = np.isfinite(self.xyxy).all(axis=1) & np.isfinite(self.score)
        positive = (self.xyxy[:, 2] > self.xyxy[:, 0]) & (self.xyxy[:, 3] > self.xyxy[:, 1])
        return finite & positive


@dataclass(frozen=True)
class Tracks:
    """The tracks a tracker reports for one frame (struct-of-arrays).

    Attributes:
        id: int64 (N,) track ids, unique within one tracker instance.
        xyxy: float32 (N, 4) boxes in pixels.
        score: float32 (N,) score of the detection that updated the track.
        class_id: int64 (N,) class by vote over the track's detections.
        state: int8 (N,) ``TrackState`` values.
    """

    id: np.ndarray
    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray
    state: np.ndarray

    @classmethod
    def empty(cls) -> Tracks:
        return cls(
            np.zeros(0, np.int64),
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, np.int64),
            np.zeros(0, np.int8),
        )

    def __len__(self) -> int:
        return len(self.id)

    def __getitem__(self, index) -> Tracks:
        return Tracks(
            self.id[index], self.xyxy[index], self.score[index], self.class_id[index], self.state[index]
        )

    def __iter__(self):
        for i in range(len(self)):
            yield Track(
                id=int(self.id[i]),
                class_id=int(self.class_id[i]),
                xyxy=self.xyxy[i].copy(),
                score=float(self.score[i]),
                state=TrackState(int(self.state[i])),
            )

    @staticmethod
    def concatenate(parts: list[Tracks]) -> Tracks:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Tracks.empty()
        if len(parts) == 1:
            return parts[0]
        return Tracks(
            np.concatenate([p.id for p in parts]),
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.score for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            np.concatenate([p.state for p in parts]),
        )


@dataclass
class Track:
    """One track, as a convenient object (the tracker stores tracks as arrays).

    ``history`` holds recent ``(time_s, x1, y1, x2, y2)`` rows, oldest first, when requested.
    """

    id: int
    class_id: int
    xyxy: np.ndarray
    score: float
    state: TrackState
    hits: int = 0
    age_s: float = 0.0
    history: np.ndarray = field(default_factory=lambda: np.zeros((0, 5), np.float64))


@dataclass(frozen=True)
class Trails:
    """The recent boxes of some tracks, row for row with a ``Tracks`` (for drawing trails).

    Attributes:
        xyxy: float32 (N, H, 4) boxes in pixels, oldest first; of track i only the first
            ``length[i]`` rows are filled.
        length: int64 (N,) boxes recorded per track (at most H).
    """

    xyxy: np.ndarray
    length: np.ndarray

    @classmethod
    def empty(cls, n: int = 0, h: int = 0) -> Trails:
        return cls(np.zeros((n, h, 4), np.float32), np.zeros(n, np.int64))

    def __len__(self) -> int:
        return len(self.length)
