"""Kalman filter whose predictions come from the LSTM (``motion.kind: lstm`` and ``hybrid``).

The Kalman filter still carries every track's state and uncertainty, and fuses each new
detection; only the predicted box changes. For a track with at least ``MIN_HISTORY`` recent
boxes, the LSTM predicts the box at the current time from the track's *observed* boxes, however
long ago the last one was, so a lost track is carried through an occlusion by the learned
motion rather than by a straight line. Tracks with a shorter history use the Kalman filter.

- ``lstm``: the LSTM's box replaces the Kalman prediction.
- ``hybrid``: the Kalman prediction one frame after a detection (where it is already good and
  smooth), the LSTM's from ``hybrid_weight`` on: a blend that turns fully learned by 0.3 s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import MotionConfig
from .kalman import KalmanBoxModel, cxcywh_to_xyxy, xyxy_to_cxcywh

if TYPE_CHECKING:
    from .lstm import LSTMPredictor
from .trajectories import STEP_S, histories_from_rings, interpolate_steps


def hybrid_weight(ahead_s: np.ndarray) -> np.ndarray:
    """Share of the LSTM in the hybrid prediction ``ahead_s`` seconds after the last box."""
    return np.clip((np.asarray(ahead_s, np.float64) - 0.1) / 0.2, 0.0, 1.0)


class TrackHistory:
    """Ring buffers of the observed boxes of N tracks, as the tracker keeps them."""

    def __init__(self, xyxy: np.ndarray, time_s: np.ndarray, count: np.ndarray) -> None:
        self.xyxy, self.time_s, self.count = xyxy, time_s, count


class LearnedBoxModel(KalmanBoxModel):
    """The ``lstm`` and ``hybrid`` motion models (see the module docstring)."""

    def __init__(self, config: MotionConfig, predictor: LSTMPredictor | None = None) -> None:
        super().__init__(config)
        if predictor is None:
            from .lstm import LSTMPredictor  # torch is imported only when a learned model is used

            predictor = LSTMPredictor(config.weights or None)
        self.predictor = predictor
        self._frame_dt = STEP_S

    def _stride(self, dt: float) -> int:
        if dt > 0:  # a running estimate of the frame period
            self._frame_dt = 0.9 * self._frame_dt + 0.1 * dt
        return max(1, int(round(STEP_S / self._frame_dt)))

    def predict(
        self,
        mean: np.ndarray,
        cov: np.ndarray,
        dt: float,
        history: TrackHistory | None = None,
        now_s: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        mean, cov = super().predict(mean, cov, dt)
        if history is None or now_s is None or len(mean) == 0:
            return mean, cov
        step_boxes, rows, last_s = self._step_boxes(history, dt)
        if len(rows) == 0:
            return mean, cov
        ahead = now_s - last_s
        learned = xyxy_to_cxcywh(interpolate_steps(step_boxes, ahead[:, None])[:, 0])
        if self.config.kind == "hybrid":
            w = hybrid_weight(ahead)[:, None]
            learned = w * learned + (1 - w) * mean[rows, :4]
        mean[rows, :4] = learned
        np.maximum(mean[:, 2:4], 1.0, out=mean[:, 2:4])
        return mean, cov

    def _step_boxes(self, history: TrackHistory, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """LSTM boxes at steps of STEP_S after each usable track's last box, those tracks' rows
        and the time of their last box."""
        histories, usable = histories_from_rings(
            history.xyxy, history.time_s, history.count, self._stride(dt)
        )
        rows = np.flatnonzero(usable)
        if len(rows) == 0:
            return np.zeros((0, 1, 4)), rows, np.zeros(0)
        sub = type(histories)(histories.xyxy[rows], histories.dt[rows], histories.valid[rows])
        last = (history.count[rows] - 1) % history.time_s.shape[1]
        return self.predictor.predict_steps(sub), rows, history.time_s[rows, last]

    def future_centres(
        self,
        mean: np.ndarray,
        times_s: np.ndarray,
        history: TrackHistory | None = None,
        now_s: float | None = None,
    ) -> np.ndarray:
        """(N, T, 2) centres ``times_s`` ahead of now: the LSTM's path where it has a history."""
        out = KalmanBoxModel.future_centres(mean, times_s)
        if history is None or now_s is None or len(mean) == 0:
            return out
        step_boxes, rows, last_s = self._step_boxes(history, 0.0)
        if len(rows):
            ahead = (now_s - last_s)[:, None] + np.asarray(times_s)[None, :]
            boxes = interpolate_steps(step_boxes, ahead)
            # Start the path at the current estimate, so that it joins the drawn box.
            centres = (boxes[..., :2] + boxes[..., 2:]) / 2
            out[rows] = centres - centres[:, :1] + mean[rows, None, 0:2]
        return out


__all__ = ["LearnedBoxModel", "TrackHistory", "cxcywh_to_xyxy", "hybrid_weight"]
