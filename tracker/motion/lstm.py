"""LSTM trajectory predictor: from a track's recent boxes, its boxes over the next second.

Input: the history features of ``trajectories.history_features`` (positions relative to the
newest box, in units of its height; log size ratios; time offsets). Output: the box at each of
``FUTURE_STEPS`` steps of ``STEP_S`` seconds, in the same relative units. Predictions for any
other time ahead are interpolated between those steps, so one model serves any frame rate.

With ``spread`` the network also predicts, per step and coordinate, how far off that box
will be: the half-width of the interval that holds the truth 68.3 % of the time (a 1-sigma
interval, were the errors Gaussian), learned by quantile regression on the size of the
error. It reads the same LSTM state but its gradients stop there, so the box predictions are
trained exactly as without it.

One forward pass covers every track of a frame. The shipped weights
(``tracker/motion/weights/motion_lstm.pt``) come from ``track train-motion``; they load with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .trajectories import (
    FEATURES,
    FUTURE_STEPS,
    GLOBAL_FEATURES,
    STEP_S,
    Histories,
    boxes_from_targets,
    history_features,
    interpolate_steps,
)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "motion_lstm.pt"


class MotionLSTM(nn.Module):
    """LSTM over the history, then a small head that outputs (FUTURE_STEPS, 4) offsets.

    With ``residual`` the head corrects a constant-velocity line fitted to the last
    ``FIT_STEPS`` boxes instead of predicting from scratch: slow and steady objects (a parked
    car seen from a car at rest, a walking pedestrian) then start from the right answer.
    """

    FIT_STEPS = 4

    def __init__(self, hidden: int = 64, residual: bool = True, spread: bool = True) -> None:
        super().__init__()
        self.hidden = hidden
        self.residual = residual
        self.spread = spread
        ahead = torch.arange(1, FUTURE_STEPS + 1, dtype=torch.float32) * STEP_S
        self.register_buffer("ahead_s", ahead, persistent=False)
        self.lstm = nn.LSTM(FEATURES, hidden, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(hidden + GLOBAL_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, FUTURE_STEPS * 4)
        )
        # Created after the box head, so that a seed gives the box head the same initial weights
        # with or without it.
        if spread:
            self.spread_head = nn.Sequential(
                nn.Linear(hidden + GLOBAL_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, FUTURE_STEPS * 4)
            )
            with torch.no_grad():  # start near typical errors (5 % of the box), not at 100 %
                self.spread_head[-1].bias.fill_(-3.0)

    def forward(self, steps: torch.Tensor, glob: torch.Tensor) -> torch.Tensor:
        """``steps`` (B, K, FEATURES), ``glob`` (B, GLOBAL_FEATURES) -> (B, FUTURE_STEPS, 4)."""
        return self._boxes(self._encode(steps, glob), steps)

    def forward_with_spread(
        self, steps: torch.Tensor, glob: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The boxes of ``forward`` and their spreads (B, FUTURE_STEPS, 4), in the same relative
        units (None without ``spread``)."""
        state = self._encode(steps, glob)
        if not self.spread:
            return self._boxes(state, steps), None
        log_spread = self.spread_head(state.detach()).view(-1, FUTURE_STEPS, 4)
        return self._boxes(state, steps), torch.exp(log_spread.clamp(-12.0, 4.0))

    def _encode(self, steps: torch.Tensor, glob: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(steps)
        return torch.cat([h[-1], glob], dim=1)

    def _boxes(self, state: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        out = self.head(state).view(-1, FUTURE_STEPS, 4)
        if self.residual:
            out = out + self.line_fit(steps)[:, None, :] * self.ahead_s[None, :, None]
        return out

    def line_fit(self, steps: torch.Tensor) -> torch.Tensor:
        """(B, 4) rates of the relative box coordinates: least squares through the newest box
        (the origin of the features) over the last FIT_STEPS boxes."""
        recent = steps[:, -self.FIT_STEPS :]
        t, valid = recent[..., 4], recent[..., 5]
        num = (valid[..., None] * t[..., None] * recent[..., 0:4]).sum(1)
        den = (valid * t * t).sum(1, keepdim=True)
        return torch.where(den > 1e-6, num / den.clamp(min=1e-6), torch.zeros_like(num))


def load_motion_lstm(path: str | Path | None = None) -> MotionLSTM:
    """The network with weights from ``path`` (default: the shipped ones)."""
    path = Path(path) if path else DEFAULT_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(
            f"LSTM motion weights not found: {path} (train them with `track train-motion`)"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "hidden" not in state or "state_dict" not in state:
        raise ValueError(f"{path}: not a motion LSTM checkpoint")
    model = MotionLSTM(
        int(state["hidden"]), bool(state.get("residual", False)), bool(state.get("spread", False))
    )
    model.load_state_dict(state["state_dict"])
    return model.eval()


class LSTMPredictor:
    """Numpy in, numpy out: future boxes for a batch of histories, on the CPU.

    The network is tiny, so a frame's worth of tracks costs well under a millisecond; the CPU
    avoids a host-device copy per frame that would cost more than the forward pass.
    """

    def __init__(self, weights: str | Path | None = None) -> None:
        self.model = load_motion_lstm(weights)

    def predict_steps(self, histories: Histories) -> np.ndarray:
        """(S, FUTURE_STEPS + 1, 4) xyxy boxes at 0, STEP_S, ..., FUTURE_STEPS*STEP_S ahead
        (row 0 is the newest box itself)."""
        return self._steps(histories, spread=False)[0]

    def _steps(self, histories: Histories, spread: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """``predict_steps``'s boxes and, with ``spread``, their spreads at the same steps
        (pixels for the centre, log ratios for the size; zero at the newest box)."""
        n = len(histories)
        zero = np.zeros((n, 1, 4))
        if n == 0:
            return np.zeros((0, FUTURE_STEPS + 1, 4)), (
                np.zeros((0, FUTURE_STEPS + 1, 4)) if spread else None
            )
        steps, glob = history_features(histories)
        with torch.inference_mode():
            x, g = torch.from_numpy(steps), torch.from_numpy(glob)
            out, rel = self.model.forward_with_spread(x, g) if spread else (self.model(x, g), None)
        boxes = boxes_from_targets(
            histories.xyxy[:, -1], np.concatenate([zero, out.numpy().astype(np.float64)], 1)
        )
        if rel is None:
            return boxes, None
        rel = np.concatenate([zero, rel.numpy().astype(np.float64)], axis=1)
        # Positions are in heights of the newest box; sizes are log ratios already.
        height = np.maximum(histories.xyxy[:, -1, 3] - histories.xyxy[:, -1, 1], 1.0)
        rel[..., 0:2] *= height[:, None, None]
        return boxes, rel

    def predict(self, histories: Histories, ahead_s: np.ndarray) -> np.ndarray:
        """(S, T, 4) boxes ``ahead_s`` (T,) seconds after each history's newest box."""
        return interpolate_steps(self.predict_steps(histories), np.asarray(ahead_s, np.float64))

    @property
    def has_spread(self) -> bool:
        return bool(self.model.spread)

    def predict_spread(self, histories: Histories, ahead_s: np.ndarray) -> np.ndarray:
        """(S, T, 4) spreads of ``predict``'s boxes: half-widths of 68.3 % intervals of the
        centre x and y (pixels) and of the log width and log height (see ``MotionLSTM``);
        zero spread at the newest box itself, linear between steps."""
        return self.predict_with_spread(histories, ahead_s)[1]

    def predict_with_spread(self, histories: Histories, ahead_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``predict`` and ``predict_spread`` from one forward pass."""
        if not self.has_spread:
            raise ValueError("these motion weights predict no spread (retrain with `track train-motion`)")
        ahead = np.asarray(ahead_s, np.float64)
        boxes, rel = self._steps(histories, spread=True)
        return interpolate_steps(boxes, ahead), interpolate_steps(rel, ahead)
