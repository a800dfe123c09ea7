"""Motion models: predict where every live track's box will be.

A motion model keeps no per-track state of its own; the tracker owns the arrays and calls
``initiate``, ``predict`` and ``update`` on all tracks at once (see ``MotionModel``).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..config import MOTION_KINDS, ConfigError, MotionConfig
from .kalman import KalmanBoxModel
from .learned import TrackHistory, hybrid_weight


class MotionModel(Protocol):
    """The seam every motion model implements, batched over N tracks."""

    def initiate(self, xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """State mean (N, D) and covariance (N, D, D) for new tracks at boxes (N, 4)."""

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

    def future_centres(
        self,
        mean: np.ndarray,
        times_s: np.ndarray,
        history: TrackHistory | None = None,
        now_s: float | None = None,
    ) -> np.ndarray:
        """(N, T, 2) box centres predicted ``times_s`` seconds ahead."""


def make_motion_model(config: MotionConfig) -> MotionModel:
    """The motion model named by ``config.kind``."""
    if config.kind == "kalman":
        return KalmanBoxModel(config)
    if config.kind in ("lstm", "hybrid"):
        from .learned import LearnedBoxModel

        return LearnedBoxModel(config)
    raise ConfigError(f"motion.kind: expected one of {', '.join(MOTION_KINDS)}, got {config.kind!r}")


__all__ = ["KalmanBoxModel", "MotionModel", "TrackHistory", "hybrid_weight", "make_motion_model"]
