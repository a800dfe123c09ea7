"""Training of the LSTM motion model (``track train-motion``).

Data: ground-truth trajectories of a KITTI-format folder plus synthetic scenes (2D boxes, and
with ``driving_scenes`` road users in 3D seen by a moving camera). Whole KITTI
sequences are held back for validation, so the validation curve measures unseen driving.
Augmentation: left-right mirroring (traffic looks the same mirrored). Deterministic for a seed
on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..eval.motion import detected_trajectories
from ..eval.synthetic import SynthConfig, SyntheticVideo
from ..motion.lstm import MotionLSTM
from ..motion.trajectories import (
    FUTURE_STEPS,
    MIN_HISTORY,
    MOTION_CLASSES,
    STEP_S,
    Histories,
    Samples,
    Trajectory,
    future_targets,
    history_features,
    kitti_trajectories,
    make_samples,
)
from .driving_scenes import driving_trajectories

HORIZONS_S = tuple(STEP_S * k for k in range(1, FUTURE_STEPS + 1))


def synthetic_trajectories(seeds: Iterable[int], num_frames: int = 300) -> list[Trajectory]:
    """Object trajectories of synthetic scenes (``tracker.eval.synthetic``), camera-relative,
    at each scene's own frame rate (10-30 fps). Boxes are not clipped to the image."""
    out = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        config = SynthConfig(fps=float(rng.choice([10.0, 15.0, 30.0])), num_frames=num_frames, seed=seed)
        per_id: dict[int, list[tuple[int, np.ndarray]]] = {}
        for i, (ids, xyxy) in enumerate(SyntheticVideo(config).boxes()):
            for tid, box in zip(ids, xyxy, strict=True):
                per_id.setdefault(int(tid), []).append((i, box))
        for tid, rows in per_id.items():
            frame = np.array([r[0] for r in rows])
            xyxy = np.array([r[1] for r in rows], np.float64)
            out.append(Trajectory(f"synth{seed}:{tid}", frame, frame / config.fps, xyxy))
    return out


def thinned(trajectories: Sequence[Trajectory], every: int) -> list[Trajectory]:
    """The trajectories as a camera at 1/``every`` of their frame rate would see them (every
    ``every``-th frame, renumbered, times kept): slower sources' histories, with the same
    objects' motion. Paired with the originals as truths, futures keep the full rate."""
    out = []
    for tr in trajectories:
        keep = tr.frame % every == 0
        out.append(replace(tr, frame=tr.frame[keep] // every, time_s=tr.time_s[keep], xyxy=tr.xyxy[keep]))
    return out


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 40
    batch_size: int = 256
    lr: float = 3e-3
    hidden: int = 64
    seed: int = 0
    # Every n-th KITTI sequence (seqmap order) is held back for validation; 0 = none.
    val_every: int = 5
    synthetic_scenes: int = 40
    # Training histories are jittered by up to this fraction of the box size (detector noise:
    # in a tracker the model reads detections, not ground truth) ...
    max_jitter: float = 0.025
    # ... and cut to a random length of MIN_HISTORY or more (young tracks) in this share of them.
    truncate_share: float = 0.3
    # Also learn each prediction's spread (``MotionLSTM``); the boxes are learned the same either way.
    spread: bool = True
    # Detection folders of the KITTI root whose boxes, matched to the training trajectories,
    # are added as histories with real detector noise (``detected_trajectories``).
    detections: tuple[str, ...] = ()
    # Also train on the KITTI trajectories thinned to 1/n of their frame rate (5 fps for 2).
    thin_every: tuple[int, ...] = ()
    # These KITTI sequences are held back for validation instead of every val_every-th.
    val_sequences: tuple[str, ...] = ()
    # KITTI pedestrian and cyclist samples are seen this many times an epoch (few against cars).
    rare_class_repeat: int = 1
    # Synthetic 3D driving scenes (``driving_scenes``): pedestrians, cyclists and cars filmed
    # by a camera that stops, crawls or cruises.
    driving_scenes: int = 0
    # This share of training histories is read without the image (no offset from its centre):
    # the tracker fed detections without a frame size.
    unknown_image_share: float = 0.2


@dataclass
class TrainResult:
    model: MotionLSTM
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    # Validation centre error 1 s ahead, in box heights, per epoch (and constant velocity's).
    val_err_1s: list[float] = field(default_factory=list)
    # Validation share of true box coordinates within the predicted spread, per epoch, on
    # histories made noisy and short like the training ones.
    val_coverage: list[float] = field(default_factory=list)
    cv_err_1s: float = float("nan")
    # After training: the per-step factors of ``calibrate_spread`` and the validation coverage
    # with them, on the histories they were fitted to (matched detections where given).
    spread_scale: list[float] = field(default_factory=list)
    # After training on KITTI: each motion class's share of the head (``measure_head_share``).
    head_share: list[float] = field(default_factory=list)
    raw_coverage: float = float("nan")  # the same histories, before the factors
    calibrated_coverage: float = float("nan")
    train_sequences: list[str] = field(default_factory=list)
    val_sequences: list[str] = field(default_factory=list)


def _tensors(samples: Samples) -> tuple[torch.Tensor, ...]:
    steps, glob = history_features(samples.histories)
    target = future_targets(samples.histories.xyxy[:, -1], samples.future)
    return (
        torch.from_numpy(steps),
        torch.from_numpy(glob),
        torch.from_numpy(target.astype(np.float32)),
        torch.from_numpy(samples.has_future),
    )


def mirror(samples: Samples) -> Samples:
    """Samples mirrored left-right (x -> -x), which keeps every relative feature valid."""

    def flip(xyxy: np.ndarray) -> np.ndarray:
        out = xyxy.copy()
        out[..., 0], out[..., 2] = -xyxy[..., 2], -xyxy[..., 0]
        return out

    h = samples.histories
    centre = None if h.image_centre is None else h.image_centre * np.array([-1.0, 1.0])
    return Samples(
        Histories(flip(h.xyxy), h.dt, h.valid, centre, h.motion_class),
        flip(samples.future),
        samples.has_future,
        samples.horizons_s,
        samples.origin,
    )


def _repeat_rare(samples: Samples, trajectories: Sequence[Trajectory], times: int) -> Samples:
    """The samples with those of pedestrians and cyclists repeated ``times`` times."""
    if times <= 1:
        return samples
    rare = np.array([trajectories[j].cls in ("pedestrian", "cyclist") for j in samples.origin[:, 0]])
    idx = np.concatenate([np.arange(len(samples))] + [np.flatnonzero(rare)] * (times - 1))
    return Samples(
        samples.histories[idx],
        samples.future[idx],
        samples.has_future[idx],
        samples.horizons_s,
        samples.origin[idx],
    )


def _concat(parts: Sequence[Samples]) -> Samples:
    def centres(h: Histories) -> np.ndarray:
        return np.full((len(h), 2), np.nan) if h.image_centre is None else h.image_centre

    def kinds(h: Histories) -> np.ndarray:
        return np.full(len(h), -1, np.int64) if h.motion_class is None else h.motion_class

    return Samples(
        Histories(
            *(np.concatenate([getattr(p.histories, f) for p in parts]) for f in ("xyxy", "dt", "valid")),
            np.concatenate([centres(p.histories) for p in parts]),
            np.concatenate([kinds(p.histories) for p in parts]),
        ),
        np.concatenate([p.future for p in parts]),
        np.concatenate([p.has_future for p in parts]),
        parts[0].horizons_s,
        np.concatenate([p.origin for p in parts]),
    )


def augment(steps: torch.Tensor, valid_len: torch.Tensor, settings: TrainSettings, gen: torch.Generator):
    """Jittered, partly truncated copies of history features (see ``TrainSettings``), and the
    jitter of the newest box, which the targets (relative to that box) must follow."""
    steps = steps.clone()
    b, k, _ = steps.shape
    sigma = torch.rand(b, 1, 1, generator=gen) * settings.max_jitter
    valid = steps[..., 5:6]
    noise = torch.randn(b, k, 4, generator=gen) * sigma * valid
    # Positions are in heights of the newest box; sizes are log ratios (relative noise).
    steps[..., 0:4] += noise - noise[:, -1:, :]
    cut = torch.rand(b, generator=gen) < settings.truncate_share
    keep = torch.randint(MIN_HISTORY, k + 1, (b,), generator=gen)
    keep = torch.where(cut, torch.minimum(keep, valid_len), valid_len)
    drop = torch.arange(k)[None, :] < (k - keep)[:, None]
    steps[drop] = 0.0
    return steps, noise[:, -1]


def without_image(glob: torch.Tensor, settings: TrainSettings, gen: torch.Generator) -> torch.Tensor:
    """Per-history features with the image offset and its flag cleared in a random
    ``unknown_image_share`` of rows (``history_features`` without an image)."""
    drop = torch.rand(len(glob), generator=gen) < settings.unknown_image_share
    out = glob.clone()
    out[drop, 2:] = 0.0
    return out


def noisy_like_training(
    steps: torch.Tensor, target: torch.Tensor, settings: TrainSettings, seed: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """History features and targets augmented as in training (``augment``), reproducibly: the
    inputs a tracker's detections give, for judging predicted spreads."""
    noisy, shift = augment(steps, steps[..., 5].sum(1).long(), settings, torch.Generator().manual_seed(seed))
    return noisy, target - shift[:, None, :]


def loss_fn(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Smooth-L1 on the relative box offsets, over the future steps that exist."""
    per = torch.nn.functional.smooth_l1_loss(pred, target, reduction="none", beta=0.05).sum(-1)
    m = mask.float()
    return (per * m).sum() / m.sum().clamp(min=1)


# The share of true boxes a predicted spread should cover: a 1-sigma interval's.
SPREAD_QUANTILE = 0.6827


def spread_loss(
    pred: torch.Tensor, spread: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Pinball loss of the spread as the SPREAD_QUANTILE quantile of the size of each
    coordinate's error, over the future steps that exist. Its minimum is the spread that the
    truth falls within that share of the time, whatever the errors' distribution (they are
    heavy-tailed: a Gaussian fit would cover more than 68 %). The boxes are held fixed."""
    err = (target - pred.detach()).abs()
    q = SPREAD_QUANTILE
    per = torch.maximum(q * (err - spread), (q - 1) * (err - spread)).sum(-1)
    m = mask.float()
    return (per * m).sum() / m.sum().clamp(min=1)


def spread_coverage(
    pred: torch.Tensor, spread: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> float:
    """Share of (sample, step, coordinate) errors within the predicted spread."""
    inside = ((target - pred).abs() <= spread).float().mean(-1)
    m = mask.float()
    return float((inside * m).sum() / m.sum().clamp(min=1))


def centre_error_1s(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean centre error at the last step (1 s), in heights of the newest box."""
    m = mask[:, -1]
    err = torch.linalg.vector_norm(pred[:, -1, :2] - target[:, -1, :2], dim=1)
    return float(err[m].mean()) if m.any() else float("nan")


def split_kitti(trajectories: list[Trajectory], val_every: int) -> tuple[list[Trajectory], list[Trajectory]]:
    sequences = sorted({t.name.split(":")[0] for t in trajectories})
    val = set(sequences[val_every - 1 :: val_every]) if val_every > 0 else set()
    train = [t for t in trajectories if t.name.split(":")[0] not in val]
    return train, [t for t in trajectories if t.name.split(":")[0] in val]


def train_motion(
    kitti_root: str | Path | None,
    settings: TrainSettings = TrainSettings(),
    progress: Callable[[int, float, float], None] | None = None,
) -> TrainResult:
    """Train a fresh ``MotionLSTM``; ``progress(epoch, train_loss, val_loss)`` per epoch."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    kitti = kitti_trajectories(kitti_root) if kitti_root else []
    if settings.val_sequences:
        held = set(settings.val_sequences)
        unknown = held - {t.name.split(":")[0] for t in kitti}
        if unknown:
            raise ValueError(
                f"validation sequences without ground-truth tracks: {', '.join(sorted(unknown))}"
            )
        kitti_train = [t for t in kitti if t.name.split(":")[0] not in held]
        kitti_val = [t for t in kitti if t.name.split(":")[0] in held]
    else:
        kitti_train, kitti_val = split_kitti(kitti, settings.val_every)
    synth = synthetic_trajectories(
        range(settings.seed * 100_000, settings.seed * 100_000 + settings.synthetic_scenes)
    )
    repeat = settings.rare_class_repeat
    parts = []  # in this order: the shipped weights' recipe depends on it
    if kitti_train:
        parts.append(_repeat_rare(make_samples(kitti_train, HORIZONS_S, True), kitti_train, repeat))
    if synth:
        parts.append(make_samples(synth, HORIZONS_S, interpolate=True))
    for every in settings.thin_every if kitti_train else ():
        slow = thinned(kitti_train, every)
        parts.append(_repeat_rare(make_samples(slow, HORIZONS_S, True, truths=kitti_train), slow, repeat))
    for folder in settings.detections if kitti_root else ():
        detected, truths = detected_trajectories(kitti_root, folder, kitti_train)
        if not detected:
            raise ValueError(f"{folder}: no detections follow a training track (IoU >= 0.5, same class)")
        parts.append(_repeat_rare(make_samples(detected, HORIZONS_S, True, truths=truths), detected, repeat))
    if settings.driving_scenes:
        start = settings.seed * 100_000 + 50_000
        scenes = driving_trajectories(range(start, start + settings.driving_scenes))
        parts.append(make_samples(scenes, HORIZONS_S, interpolate=True))
    train = _concat(parts + [mirror(p) for p in parts])
    # Validation: held-back KITTI sequences, or held-back synthetic scenes without KITTI.
    val_traj = kitti_val or synthetic_trajectories(range(900_000, 900_010))
    val = make_samples(val_traj, HORIZONS_S, interpolate=True)

    model = MotionLSTM(settings.hidden, spread=settings.spread)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, settings.epochs)
    x_steps, x_glob, y, mask = _tensors(train)
    x_len = x_steps[..., 5].sum(1).long()
    gen = torch.Generator().manual_seed(settings.seed)
    v_steps, v_glob, v_y, v_mask = _tensors(val)
    # Spreads are judged on validation histories made noisy and short like the training ones
    # (a tracker's inputs are detections); on clean ground truth they would cover more.
    aug_steps, aug_y = noisy_like_training(v_steps, v_y, settings)
    result = TrainResult(
        model,
        train_sequences=sorted({t.name.split(":")[0] for t in kitti_train}),
        val_sequences=sorted({t.name.split(":")[0] for t in kitti_val}),
    )
    result.cv_err_1s = centre_error_1s(_constant_velocity(val), v_y, v_mask)
    for epoch in range(settings.epochs):
        loss = _train_epoch(model, optimiser, (x_steps, x_len, x_glob, y, mask), settings, rng, gen)
        schedule.step()
        model.eval()
        with torch.inference_mode():
            pred = model(v_steps, v_glob)
            result.val_loss.append(float(loss_fn(pred, v_y, v_mask)))
            result.val_err_1s.append(centre_error_1s(pred, v_y, v_mask))
            if model.spread:
                aug_pred, aug_spread = model.forward_with_spread(aug_steps, v_glob)
                result.val_coverage.append(spread_coverage(aug_pred, aug_spread, aug_y, v_mask))
        result.train_loss.append(loss)
        if progress:
            progress(epoch, result.train_loss[-1], result.val_loss[-1])
    v_kinds = _kinds(val)
    cal = (aug_steps, v_glob, aug_y, v_mask, v_kinds)
    if kitti_val and settings.detections:
        # The tracker feeds the model detections: calibrate on held-back tracks of those.
        parts = []
        for folder in settings.detections:
            detected, truths = detected_trajectories(kitti_root, folder, kitti_val)
            if detected:
                parts.append(make_samples(detected, HORIZONS_S, True, truths=truths))
        if parts:
            joined = _concat(parts)
            cal = (*_tensors(joined), _kinds(joined))
    if kitti_val:
        # Each class's share of the head, on the held-back sequences' true and detected tracks.
        both = [torch.cat([a, b]) for a, b in zip((v_steps, v_glob, v_y, v_mask, v_kinds), cal, strict=True)]
        result.head_share = measure_head_share(model, *both).tolist()
    if model.spread:
        with torch.inference_mode():
            result.raw_coverage = spread_coverage(*model.forward_with_spread(*cal[:2], cal[4]), *cal[2:4])
        result.spread_scale = calibrate_spread(model, *cal).tolist()
        with torch.inference_mode():
            result.calibrated_coverage = spread_coverage(
                *model.forward_with_spread(*cal[:2], cal[4]), *cal[2:4]
            )
    return result.__class__(**{**vars(result), "model": model.eval()})


def _kinds(samples: Samples) -> torch.Tensor:
    """(S,) each sample's index in MOTION_CLASSES (-1: unknown)."""
    h = samples.histories
    return torch.from_numpy(np.full(len(h), -1, np.int64) if h.motion_class is None else h.motion_class)


# The shares of the head's correction tried per class, and the fewest held-back samples of a
# class that decide its share (fewer: the whole correction, as trained).
HEAD_SHARES = np.linspace(0.0, 1.0, 11)
MIN_SHARE_SAMPLES = 200


def measure_head_share(
    model: MotionLSTM,
    steps: torch.Tensor,
    glob: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    kinds: torch.Tensor,
) -> np.ndarray:
    """Set ``model.head_share``: per motion class, the share of the head's correction (of
    HEAD_SHARES) whose boxes have the least mean centre error over the future steps of these
    held-back samples; returns the shares (MOTION_CLASSES, then unknown: 1). A measured
    choice between the network's prediction and the path it corrects, for each class."""
    model.eval()
    with torch.no_grad():
        boxes, base, _ = model.forward_paths(steps, glob)
        share = np.ones(len(MOTION_CLASSES) + 1)
        for c in range(len(MOTION_CLASSES)):
            rows = kinds == c
            if int(rows.sum()) < MIN_SHARE_SAMPLES:
                continue
            m = mask[rows].float()
            errors = []
            for a in HEAD_SHARES:
                pred = base[rows] + float(a) * (boxes[rows] - base[rows])
                err = torch.linalg.vector_norm(pred[..., :2] - target[rows][..., :2], dim=-1)
                errors.append(float((err * m).sum() / m.sum().clamp(min=1)))
            share[c] = HEAD_SHARES[int(np.argmin(errors))]
        model.head_share.copy_(torch.from_numpy(share).float())
    return share


def calibrate_spread(
    model: MotionLSTM,
    steps: torch.Tensor,
    glob: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    kinds: torch.Tensor | None = None,
) -> np.ndarray:
    """Set ``model.spread_scale`` so that, per future step, the SPREAD_QUANTILE share of the
    coordinates of these (held-back) samples falls within the spread around the boxes (with
    ``kinds``, as each class's ``head_share`` makes them); returns the factors.
    Split conformal calibration: one number per step, so it carries to unseen tracks."""
    model.eval()
    with torch.no_grad():
        model.spread_scale.fill_(1.0)
        pred, spread = model.forward_with_spread(steps, glob, kinds)
        ratio = (target - pred).abs() / spread.clamp(min=1e-9)
        scale = torch.ones(FUTURE_STEPS)
        for k in range(FUTURE_STEPS):
            r = ratio[mask[:, k], k].flatten()
            if len(r):
                scale[k] = torch.quantile(r, SPREAD_QUANTILE)
        model.spread_scale.copy_(scale)
    return scale.numpy()


def _train_epoch(model, optimiser, data, settings: TrainSettings, rng, gen) -> float:
    """One pass over the training samples in a random order, augmented; the mean loss."""
    x_steps, x_len, x_glob, y, mask = data
    model.train()
    order = torch.from_numpy(rng.permutation(len(y)))
    total, batches = 0.0, 0
    for start in range(0, len(order), settings.batch_size):
        idx = order[start : start + settings.batch_size]
        steps, shift = augment(x_steps[idx], x_len[idx], settings, gen)
        target = y[idx] - shift[:, None, :]
        pred, spread = model.forward_with_spread(steps, without_image(x_glob[idx], settings, gen))
        loss = loss_fn(pred, target, mask[idx])
        optimiser.zero_grad()
        extra = spread_loss(pred, spread, target, mask[idx]) if spread is not None else 0.0
        (loss + extra).backward()
        # Clipped apart, so that the spread head cannot change how the box head learns.
        box_params = [p for n, p in model.named_parameters() if not n.startswith("spread_head.")]
        torch.nn.utils.clip_grad_norm_(box_params, 1.0)
        if spread is not None:
            torch.nn.utils.clip_grad_norm_(model.spread_head.parameters(), 1.0)
        optimiser.step()
        total, batches = total + loss.item(), batches + 1
    return total / max(batches, 1)


def _constant_velocity(samples: Samples) -> torch.Tensor:
    """Relative targets of a constant-velocity extrapolation from the last two boxes."""
    h = samples.histories
    prev = np.where(h.valid[:, -2, None], h.xyxy[:, -2], h.xyxy[:, -1])
    gap = np.where(h.valid[:, -2], -h.dt[:, -2], 1.0)[:, None]
    velocity = (h.xyxy[:, -1] - prev) / np.maximum(gap, 1e-6)
    ahead = np.asarray(samples.horizons_s)[None, :, None]
    future = h.xyxy[:, -1][:, None] + velocity[:, None] * ahead
    return torch.from_numpy(future_targets(h.xyxy[:, -1], future).astype(np.float32))


def save_checkpoint(model: MotionLSTM, path: str | Path) -> None:
    """Weights as a plain dict of tensors (loads with ``weights_only=True``), written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    state = {
        "hidden": model.hidden,
        "residual": model.residual,
        "spread": model.spread,
        "global_features": model.global_features,
        "base": model.base,
    }
    torch.save({**state, "state_dict": model.state_dict()}, tmp)
    tmp.replace(path)


def plot_curves(result: TrainResult, path: str | Path) -> None:
    """Training and validation loss, and validation 1 s centre error, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(result.train_loss) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, result.train_loss, label="train")
    left.plot(epochs, result.val_loss, label="validation")
    left.set(xlabel="epoch", ylabel="smooth-L1 loss", yscale="log", title="Loss")
    left.legend()
    right.plot(epochs, result.val_err_1s, label="LSTM")
    right.axhline(result.cv_err_1s, color="grey", linestyle="--", label="constant velocity")
    right.set(xlabel="epoch", ylabel="centre error (box heights)", title="Validation, 1 s ahead")
    right.legend()
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
