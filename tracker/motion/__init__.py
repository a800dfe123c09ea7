"""Motion models: predict where every live track's box will be.

A motion model keeps no per-track state of its own; the tracker owns the arrays and calls
``initiate``, ``predict`` and ``update`` on all tracks at once (see ``MotionModel``). The state's
layout is the model's own: the tracker only selects, appends and drops rows, and asks the model
for everything else (boxes, camera-motion warps, holding a lost track's size).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..config import MOTION_KINDS, ConfigError, MotionConfig
from .kalman import KalmanBoxModel
from .learned import TrackHistory, hybrid_weight


class MotionModel(Protocol):
    """The seam every motion model implements, batched over N tracks. A model that reads
    ``TrackHistory.cut`` in ``predict`` says so with a true ``reads_cut`` attribute (the
    tracker only records the flag then)."""

    def initiate(self, xyxy: np.ndarray, velocity: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """State mean (N, D) and covariance (N, D, D) for new tracks at boxes (N, 4);
        ``velocity`` (N, 2): a prior for the centres' motion in pixels/s (default: still)."""

    def predict(
        self,
        mean: np.ndarray,
        cov: np.ndarray,
        dt: float,
        history: TrackHistory | None = None,
        now_s: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """States advanced by ``dt`` seconds to time ``now_s``; learned models also read the
        tracks' observed boxes (``history``)."""

    def update(self, mean: np.ndarray, cov: np.ndarray, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """States corrected by measured boxes, row for row."""

    def boxes(self, mean: np.ndarray) -> np.ndarray:
        """(N, 4) xyxy boxes of the states."""

    def warp(self, mean: np.ndarray, cov: np.ndarray, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """States moved by the camera's motion, a 2x3 affine from the previous frame's pixels
        to this frame's (called before ``predict`` when camera motion is on)."""

    def freeze_size(self, mean: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The states with the size of ``rows`` (a boolean mask) held: no longer growing or
        shrinking (lost tracks keep their size while they are predicted). May modify ``mean``."""

    def centre_std(self, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
        """(N, 2) standard deviations (pixels) of where the next detection's centre will be
        in x and y, around the predicted box: the spread the association's centre gate
        scales with (``association.spread_gate``)."""

    def future_centres(
        self,
        mean: np.ndarray,
        times_s: np.ndarray,
        history: TrackHistory | None = None,
        now_s: float | None = None,
    ) -> np.ndarray:
        """(N, T, 2) box centres predicted ``times_s`` seconds ahead."""


MotionFactory = Callable[[MotionConfig], MotionModel]


def make_motion_model(config: MotionConfig) -> MotionModel:
    """The motion model named by ``config.kind``."""
    if config.kind == "kalman":
        return KalmanBoxModel(config)
    if config.kind in ("lstm", "hybrid"):
        from .learned import LearnedBoxModel

        return LearnedBoxModel(config)
    raise ConfigError(f"motion.kind: expected one of {', '.join(MOTION_KINDS)}, got {config.kind!r}")


__all__ = [
    "KalmanBoxModel",
    "MotionFactory",
    "MotionModel",
    "TrackHistory",
    "hybrid_weight",
    "make_motion_model",
]
