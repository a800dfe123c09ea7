"""LSTM trajectory predictor: from a track's recent boxes, its boxes over the next second.

Input: the history features of ``trajectories.history_features`` (positions relative to the
newest box, in units of its height; log size ratios; time offsets; the newest box's size,
shape and offset from the image centre where the frame size is known). Output: the box at each of
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

import copy
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .trajectories import (
    FEATURES,
    FUTURE_STEPS,
    GLOBAL_FEATURES,
    HISTORY_LEN,
    MOTION_CLASSES,
    POSITION_SCALE,
    STEP_S,
    Histories,
    boxes_from_targets,
    history_features,
    interpolate_steps,
    spread_in_pixels,
)

# The paths the residual head may correct (``MotionLSTM.base_path``).
BASES = ("line", "growth", "projective")
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "motion_lstm.pt"


class MotionLSTM(nn.Module):
    """LSTM over the history, then a small head that outputs (FUTURE_STEPS, 4) offsets.

    With ``residual`` the head corrects a path worked out from the history (``base_path``:
    a line through the last ``FIT_STEPS`` boxes, the same sped up as the box grows, or steady
    motion seen through a pinhole camera) instead of predicting from scratch: slow and steady
    objects (a parked car seen from a car at rest, a walking pedestrian) then start from the
    right answer. Predictors keep each class's ``head_share`` of the correction.
    """

    FIT_STEPS = 4

    def __init__(
        self,
        hidden: int = 64,
        residual: bool = True,
        spread: bool = True,
        global_features: int = GLOBAL_FEATURES,
        base: str = "projective",
    ) -> None:
        super().__init__()
        self.hidden = hidden
        self.residual = residual
        self.spread = spread
        # The leading per-history features it reads (2 in checkpoints from before the image
        # offset: the box's size and shape only).
        self.global_features = global_features
        # The path the residual head corrects (``base_path``); "line" in checkpoints from
        # before the others.
        if base not in BASES:
            raise ValueError(f"base: expected one of {', '.join(BASES)}, got {base!r}")
        self.base = base
        ahead = torch.arange(1, FUTURE_STEPS + 1, dtype=torch.float32) * STEP_S
        self.register_buffer("ahead_s", ahead, persistent=False)
        self.lstm = nn.LSTM(FEATURES, hidden, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(hidden + global_features, hidden), nn.ReLU(), nn.Linear(hidden, FUTURE_STEPS * 4)
        )
        # Created after the box head, so that a seed gives the box head the same initial weights
        # with or without it.
        if spread:
            self.spread_head = nn.Sequential(
                nn.Linear(hidden + global_features, hidden), nn.ReLU(), nn.Linear(hidden, FUTURE_STEPS * 4)
            )
            with torch.no_grad():  # start near typical errors (5 % of the box), not at 100 %
                self.spread_head[-1].bias.fill_(-3.0)
            # Per step, a factor on the learned spread, set after training on held-back tracks
            # (``training.motion.calibrate_spread``): errors on unseen tracks exceed those on
            # the tracks the network was fitted to, so the head alone under-covers there.
            self.register_buffer("spread_scale", torch.ones(FUTURE_STEPS))
        # The share of the head's correction kept per motion class (MOTION_CLASSES, then
        # unknown) where the image is known, measured on held-back tracks after training
        # (``training.motion.measure_head_share``): where the head's lesson does not carry to
        # unseen tracks of a class, its base path alone predicts better.
        self.register_buffer("head_share", torch.ones(len(MOTION_CLASSES) + 1))

    def forward(self, steps: torch.Tensor, glob: torch.Tensor) -> torch.Tensor:
        """``steps`` (B, K, FEATURES), ``glob`` (B, GLOBAL_FEATURES) -> (B, FUTURE_STEPS, 4)."""
        return self.forward_paths(steps, glob)[0]

    def forward_with_spread(
        self, steps: torch.Tensor, glob: torch.Tensor, kinds: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The boxes of ``forward`` and their spreads (B, FUTURE_STEPS, 4), in the same relative
        units (None without ``spread``). With ``kinds`` (B,), each history's index in
        MOTION_CLASSES (-1: unknown), the boxes of histories whose image is known keep only
        their class's ``head_share`` of the head's correction (as predictors give them);
        without, all of it (as trained)."""
        boxes, base, spread = self.forward_paths(steps, glob)
        if kinds is not None:
            share = self.head_share[torch.where(kinds >= 0, kinds, len(MOTION_CLASSES))]
            share = torch.where(glob[:, 4] > 0.5, share, torch.ones_like(share))
            boxes = base + share[:, None, None] * (boxes - base)
        return boxes, spread

    def forward_paths(
        self, steps: torch.Tensor, glob: torch.Tensor, image: bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The boxes and spreads of ``forward_with_spread`` and the base path the boxes correct
        (zero without ``residual``), all (B, FUTURE_STEPS, 4). ``image`` as in ``base_path``."""
        state = self._encode(steps, glob)
        out = self.head(state).view(-1, FUTURE_STEPS, 4)
        base = self.base_path(steps, glob, image) if self.residual else torch.zeros_like(out)
        if not self.spread:
            return out + base, base, None
        log_spread = self.spread_head(state.detach()).view(-1, FUTURE_STEPS, 4)
        spread = torch.exp(log_spread.clamp(-12.0, 4.0)) * self.spread_scale[None, :, None]
        return out + base, base, spread

    def _encode(self, steps: torch.Tensor, glob: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(steps)
        return torch.cat([h[-1], glob[:, : self.global_features]], dim=1)

    def base_path(self, steps: torch.Tensor, glob: torch.Tensor, image: bool | None = None) -> torch.Tensor:
        """(B, FUTURE_STEPS, 4) the boxes the residual head corrects, in the targets' units:
        ``line``, the line's rates carried on; ``growth``, its positions sped up as the box
        grows (``line_path``); ``projective``, an object at a steady speed relative to the
        camera (``projective_path``) where the image is known, ``growth`` where it is not.

        ``image``: whether every history's image is known (True) or none's is (False), so that
        only that path is computed (an exported graph then runs fewer operations); None reads
        each history's flag."""
        rates = self.line_fit(steps)
        if self.base == "line":
            return rates[:, None, :] * self.ahead_s[None, :, None]
        if self.base == "growth" or image is False:
            return self.line_path(rates)
        pinhole = self.projective_path(steps, glob[:, 2:4] / POSITION_SCALE, rates)
        if image:
            return pinhole
        return torch.where(glob[:, 4:5, None] > 0.5, pinhole, self.line_path(rates))

    def projective_path(self, steps: torch.Tensor, offset: torch.Tensor, rates: torch.Tensor) -> torch.Tensor:
        """The path of an object moving at a steady speed relative to a pinhole camera whose
        optical axis is at the image centre, fitted to the whole history: there the inverse
        box height 1/h and the offset from the centre in box heights (x - cx) / h (lateral
        distance over object height) both change linearly with time, whatever the lens.
        ``offset`` (B, 2): the newest box's (x - cx) / h and (y - cy) / h. Lines through the
        newest box; the height is held within half and twice the newest one (a line in 1/h
        reaches zero as the object reaches the camera). The width keeps the line's rate. The
        offset comes from the features, clipped beyond 50 box heights (a far, small box at the
        image's edge), where the path is then slightly off."""
        t, valid = steps[..., 4], steps[..., 5]
        q = torch.exp(-steps[..., 3])  # h_newest / h
        u = (steps[..., 0:2] + offset[:, None, :]) * q[..., None]  # (x - cx) / h, in newest heights
        den = (valid * t * t).sum(1).clamp(min=1e-6)
        q_rate = (valid * t * (q - 1.0)).sum(1) / den
        u_rate = (valid[..., None] * t[..., None] * (u - offset[:, None, :])).sum(1) / den[:, None]
        ahead = self.ahead_s[None, :]
        q_ahead = (1.0 + q_rate[:, None] * ahead).clamp(0.5, 2.0)
        u_ahead = offset[:, None, :] + u_rate[:, None, :] * ahead[..., None]
        xy = u_ahead / q_ahead[..., None] - offset[:, None, :]
        log_w = rates[:, None, 2:3] * ahead[..., None]
        return torch.cat([xy, log_w, -torch.log(q_ahead)[..., None]], dim=-1)

    def line_path(self, rates: torch.Tensor) -> torch.Tensor:
        """(B, FUTURE_STEPS, 4) the line's ``rates`` of the relative box coordinates carried to
        each step, the positions moving in proportion to the box's size as it grows or shrinks
        at the line's rate: an object at a steady speed crosses the image faster the nearer it
        comes (image speed and box height both go as one over the distance)."""
        t = self.ahead_s[None, :, None]
        g = rates[:, None, 3:4].clamp(-2.0, 2.0)  # log-height rate, per second
        # (exp(g t) - 1) / g; near g = 0 its series (the exporter has no expm1, and
        # exp(g t) - 1 loses float32 digits there).
        small = g.abs() < 1e-2
        ratio = (torch.exp(g * t) - 1.0) / torch.where(small, torch.ones_like(g), g)
        factor = torch.where(small, t * (1.0 + 0.5 * g * t), ratio)
        return torch.cat([rates[:, None, 0:2] * factor, rates[:, None, 2:4] * t], dim=-1)

    def line_fit(self, steps: torch.Tensor) -> torch.Tensor:
        """(B, 4) rates of the relative box coordinates: least squares through the newest box
        (the origin of the features) over the last FIT_STEPS boxes."""
        recent = steps[:, -self.FIT_STEPS :]
        t, valid = recent[..., 4], recent[..., 5]
        num = (valid[..., None] * t[..., None] * recent[..., 0:4]).sum(1)
        den = (valid * t * t).sum(1, keepdim=True)
        return torch.where(den > 1e-6, num / den.clamp(min=1e-6), torch.zeros_like(num))


def _missing(path: Path) -> FileNotFoundError:
    return FileNotFoundError(f"LSTM motion weights not found: {path} (train them with `track train-motion`)")


def load_motion_lstm(path: str | Path | None = None) -> MotionLSTM:
    """The network with weights from ``path`` (default: the shipped ones)."""
    path = Path(path) if path else DEFAULT_WEIGHTS
    if not path.is_file():
        raise _missing(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "hidden" not in state or "state_dict" not in state:
        raise ValueError(f"{path}: not a motion LSTM checkpoint")
    model = MotionLSTM(
        int(state["hidden"]),
        bool(state.get("residual", False)),
        bool(state.get("spread", False)),
        int(state.get("global_features", 2)),
        str(state.get("base", "line")),
    )
    weights = dict(state["state_dict"])
    if model.spread:
        weights.setdefault("spread_scale", torch.ones(FUTURE_STEPS))  # checkpoints from before it
    weights.setdefault("head_share", torch.ones(len(MOTION_CLASSES) + 1))
    model.load_state_dict(weights)
    return model.eval()


class _Outputs(nn.Module):
    """The network's boxes, base paths and spreads as one plain output tuple, for the exporter."""

    def __init__(self, model: MotionLSTM, image: bool | None) -> None:
        super().__init__()
        self.model, self.image = model, image

    def forward(self, steps: torch.Tensor, glob: torch.Tensor):
        boxes, base, spread = self.model.forward_paths(steps, glob, self.image)
        return (boxes, base, spread) if spread is not None else (boxes, base)


_EXPORT_LOCK = threading.Lock()


def _shared_session(path: str, mtime_ns: int, image: bool | None):
    """An onnxruntime session of the weights at ``path`` (as of ``mtime_ns``) for histories
    whose images are all known, none known or either (``image``: True, False, None; see
    ``MotionLSTM.base_path``), made once per process (torch's exporter is not thread-safe;
    running a session from several threads is)."""
    with _EXPORT_LOCK:
        return _new_session(path, mtime_ns, image)


@lru_cache(maxsize=8)
def _loaded(path: str, mtime_ns: int) -> MotionLSTM:
    """The network of the weights at ``path`` (as of ``mtime_ns``), read once per process and
    shared by its predictors, which only run it (a tracker per stream, per class group or per
    sequence would otherwise read the file again: about 5 ms each)."""
    return load_motion_lstm(path)


@lru_cache(maxsize=24)  # up to three cases per weights file
def _new_session(path: str, mtime_ns: int, image: bool | None):
    from ..onnx_cpu import cpu_session

    # Its own copy (the exporter traces it) of the weights the predictors read, even if the
    # file has changed since.
    model = copy.deepcopy(_loaded(path, mtime_ns))
    names = ["boxes", "base", "spread"] if model.spread else ["boxes", "base"]
    axes = {name: {0: "batch"} for name in ("steps", "glob", *names)}
    example = (torch.zeros(2, HISTORY_LEN, FEATURES), torch.zeros(2, GLOBAL_FEATURES))
    return cpu_session(_Outputs(model, image), example, ["steps", "glob"], names, axes)


class LSTMPredictor:
    """Numpy in, numpy out: future boxes for a batch of histories, on the CPU.

    The network is tiny: the CPU avoids a host-device copy per frame that would cost more than
    the forward pass. It runs in onnxruntime (``runtime="onnxruntime"``, the default): about
    0.1 ms for a frame's tracks, against 0.6 ms in torch, whose per-call overhead dominates
    at this size. ``runtime="torch"`` runs the module itself (outputs agree to 1e-5).
    """

    def __init__(self, weights: str | Path | None = None, runtime: str = "onnxruntime") -> None:
        if runtime not in ("onnxruntime", "torch"):
            raise ValueError(f"runtime: expected onnxruntime or torch, got {runtime!r}")
        path = Path(weights) if weights else DEFAULT_WEIGHTS
        if not path.is_file():
            raise _missing(path)
        key = (str(path.resolve()), path.stat().st_mtime_ns)
        self.model = _loaded(*key)
        self._share = self.model.head_share.numpy().copy()  # read per call: not through torch
        # Sessions per weights file and process, made on a case's first call (about 70 ms
        # each, once per process: a tracker per stream or per class group shares them).
        self._key = key if runtime == "onnxruntime" else None
        self._sessions: dict[bool | None, object] = {}
        self._projective = self.model.base == "projective"

    @classmethod
    def from_model(cls, model: MotionLSTM) -> LSTMPredictor:
        """A predictor running ``model`` as it is, in torch (a network fresh from training)."""
        predictor = cls.__new__(cls)
        predictor.model, predictor._key, predictor._sessions = model.eval(), None, {}
        predictor._share = model.head_share.numpy().copy()
        predictor._projective = model.base == "projective"
        return predictor

    def _forward(
        self, steps: np.ndarray, glob: np.ndarray, spread: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if self._key is not None:
            out = self._session(glob).run(None, {"steps": steps, "glob": glob})
            return out[0], out[1], (out[2] if spread else None)
        with torch.inference_mode():
            boxes, base, rel = self.model.forward_paths(torch.from_numpy(steps), torch.from_numpy(glob))
        return boxes.numpy(), base.numpy(), (rel.numpy() if spread and rel is not None else None)

    def _session(self, glob: np.ndarray):
        """The session for these histories: one that computes only the pinhole path where
        every image is known, or only the growing line where none is (the tracker's case:
        a tracker's frames all have a size or none do), saving the other path's operations."""
        image = None
        if self._projective:
            known = glob[:, 4] > 0.5
            image = True if known.all() else (False if not known.any() else None)
        session = self._sessions.get(image)
        if session is None:
            session = self._sessions[image] = _shared_session(*self._key, image)
        return session

    def head_shares(self, histories: Histories) -> np.ndarray:
        """(S,) the share of the head's correction each history gets: its motion class's where
        its image is known (the shares were measured on the pinhole path), the whole otherwise."""
        share = self._share
        if histories.motion_class is None or histories.image_centre is None:
            return np.ones(len(histories))
        shares = share[histories.motion_class]  # -1, unknown, is the last
        return np.where(np.isfinite(histories.image_centre[:, 0]), shares, 1.0)

    def predict_steps(self, histories: Histories) -> np.ndarray:
        """(S, FUTURE_STEPS + 1, 4) xyxy boxes at 0, STEP_S, ..., FUTURE_STEPS*STEP_S ahead
        (row 0 is the newest box itself)."""
        return self._steps(histories, spread=False)[0]

    def predict_relative(
        self, histories: Histories, spread: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The network's own output for each history: (S, FUTURE_STEPS + 1, 4) targets relative
        to the newest box (``trajectories.future_targets``; row 0, the newest box, is zero)
        and, with ``spread``, their spreads in the same units (None without). Relative targets
        stay valid when the camera's motion moves the whole history (``to_pixels``), but for the
        small shift of its offset from the image centre."""
        targets = np.zeros((len(histories), FUTURE_STEPS + 1, 4))
        if len(histories) == 0:
            return targets, (targets.copy() if spread else None)
        out, base, rel = self._forward(*history_features(histories), spread)
        share = self.head_shares(histories)
        targets[:, 1:] = out if share.min() == 1.0 else base + share[:, None, None] * (out - base)
        if rel is None:
            return targets, None
        spreads = np.zeros_like(targets)
        spreads[:, 1:] = rel
        return targets, spreads

    @staticmethod
    def to_pixels(
        newest_xyxy: np.ndarray, targets: np.ndarray, spread: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``predict_relative``'s output as xyxy boxes around ``newest_xyxy`` (S, 4), and its
        spreads in pixels for the centre and log ratios for the size."""
        boxes = boxes_from_targets(newest_xyxy, targets)
        return boxes, (None if spread is None else spread_in_pixels(newest_xyxy, spread))

    def _steps(self, histories: Histories, spread: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """``predict_steps``'s boxes and, with ``spread``, their spreads at the same steps
        (pixels for the centre, log ratios for the size; zero at the newest box)."""
        targets, rel = self.predict_relative(histories, spread)
        return self.to_pixels(histories.xyxy[:, -1], targets, rel)

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
