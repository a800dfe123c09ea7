"""How far a detector's boxes are, consistently, from the true boxes: per class, the median
log ratio of width and height between each detection and the true box it matches.

A detector that projects 3D boxes into the image (PointRCNN on KITTI) draws pedestrians about
1.5 times as wide as the annotated 2D boxes, on every sequence. The tracker can undo such a bias
(``tracker.per_class.<class>.box_scale``); ``track calibrate`` measures it, sequence by sequence,
so that a correction is only taken where it is the same everywhere.

Scores: a detector's raw scores mean different things (PointRCNN's are logits from -5 to 15,
RRC's confidences in [0, 1]). ``track calibrate`` also measures, per class, the share of
detections that match a true box as a function of score, and fits a monotone map to it
(``ScoreMap``), so that the tracker's thresholds read as precisions for any detector.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression, linear_sum_assignment, minimize

from ..associate import iou_matrix
from ..config import Config, config_from_dict, config_to_dict
from ..config_base import SAME, diff
from ..config_tracker import ScoreMap
from ..formats import KITTI_DISTRACTORS, BoxTable, read_kitti_labels, read_mot
from .datasets import Dataset

MIN_PAIRS_PER_SEQUENCE = 10


@dataclass(frozen=True)
class BoxBias:
    """Median log(detected / true) width and height of matched pairs of one class."""

    cls: str
    pairs: int
    log_width: float
    log_height: float
    # Sequence name -> (pairs, log width, log height); sequences with few pairs are left out.
    per_sequence: dict[str, tuple[int, float, float]]

    @property
    def box_scale(self) -> tuple[float, float]:
        """Width and height factors that undo the bias, to the nearest 0.05."""
        return (
            round(float(np.exp(-self.log_width)) * 20) / 20,
            round(float(np.exp(-self.log_height)) * 20) / 20,
        )

    @property
    def suggested_box_scale(self) -> tuple[float, float]:
        """``box_scale`` on the axes where the bias is consistent (``consistent``), else 1."""
        width, height = self.box_scale
        return (width if self.consistent(0) else 1.0, height if self.consistent(1) else 1.0)

    def consistent(self, axis: int, threshold: float = 0.05) -> bool:
        """Whether every sequence shows a bias beyond ``threshold`` with the same sign."""
        values = [v[1 + axis] for v in self.per_sequence.values()]
        return bool(values) and (all(v > threshold for v in values) or all(v < -threshold for v in values))


def box_bias(dataset: Dataset, classes: tuple[str, ...], min_iou: float = 0.3) -> list[BoxBias]:
    """Match detections to ground truth frame by frame (Hungarian on IoU >= ``min_iou``) and
    measure each class's bias. KITTI: classes by name; MOT: one class."""
    truths = {seq.name: _truth_table(dataset, seq.name) for seq in dataset.sequences}
    out = []
    for cls in classes:
        ratios: dict[str, np.ndarray] = {}
        class_id = dataset.class_names.index(cls)
        for seq in dataset.sequences:
            truth_frame, truth = _class_truth(dataset, truths[seq.name], class_id)
            pairs = [np.zeros((0, 2))]
            for i, dets in enumerate(seq.frames):
                # MOT files carry one class, often unlabelled (-1): every detection counts.
                mine = dets.xyxy if dataset.format == "mot" else dets.xyxy[dets.class_id == class_id]
                pairs.append(_matched_log_ratios(mine, truth[truth_frame == i], min_iou))
            ratios[seq.name] = np.concatenate(pairs)
        everything = np.concatenate(list(ratios.values())) if ratios else np.zeros((0, 2))
        if not len(everything):
            continue
        median = np.median(everything, axis=0)
        per_sequence = {
            name: (len(r), float(np.median(r[:, 0])), float(np.median(r[:, 1])))
            for name, r in ratios.items()
            if len(r) >= MIN_PAIRS_PER_SEQUENCE
        }
        out.append(BoxBias(cls, len(everything), float(median[0]), float(median[1]), per_sequence))
    return out


def _truth_table(dataset: Dataset, name: str) -> BoxTable:
    """One sequence's ground truth, read once for every class."""
    if dataset.format == "kitti":
        return read_kitti_labels(dataset.root / "label_02" / f"{name}.txt")
    return read_mot(dataset.gt_files[name], "gt")


def _class_truth(dataset: Dataset, table: BoxTable, class_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(frame, xyxy) of the evaluated true boxes of one class (MOT: the only class)."""
    keep = ~table.ignore
    if dataset.format == "kitti":
        keep &= table.class_id == class_id
    return table.frame[keep], table.xyxy[keep]


def _matched_log_ratios(dets: np.ndarray, truth: np.ndarray, min_iou: float) -> np.ndarray:
    """log(width ratio), log(height ratio) of each matched (detection, true box) pair."""
    if not len(dets) or not len(truth):
        return np.zeros((0, 2))
    iou = iou_matrix(truth, dets)
    rows, cols = linear_sum_assignment(-iou)
    keep = iou[rows, cols] >= min_iou
    t, d = truth[rows[keep]], dets[cols[keep]]
    return np.log((d[:, 2:] - d[:, :2]) / (t[:, 2:] - t[:, :2]))


# ---------------------------------------------------------------- scores


@dataclass(frozen=True)
class ScoreSamples:
    """Every detection of one class that evaluation can judge: its raw score, whether it
    matches a true box (``hit``), and its sequence. Detections on a distractor (a van for
    cars, a person sitting for pedestrians) or inside a DontCare region are left out: the
    benchmark neither rewards nor penalises them."""

    cls: str
    score: np.ndarray
    hit: np.ndarray
    sequence: np.ndarray

    def __len__(self) -> int:
        return len(self.score)


@dataclass(frozen=True)
class ScoreCalibration:
    """A class's fitted score map with how well each method predicted unseen sequences."""

    cls: str
    samples: ScoreSamples
    score_map: ScoreMap
    # Method -> mean Brier score (squared error of the predicted precision) over
    # leave-one-sequence-out folds: the map is fitted on the other sequences.
    brier: dict[str, float]

    @property
    def method(self) -> str:
        return self.score_map.method


def score_samples(
    dataset: Dataset, cls: str, min_iou: float = 0.5, box_scale: tuple[float, float] = (1.0, 1.0)
) -> ScoreSamples:
    """Match each frame's detections of ``cls`` to its true boxes (Hungarian on IoU, at least
    ``min_iou``, TrackEval's threshold for a detection to count) and label them hit or miss.
    ``box_scale``: the size correction the tracker applies first (see ``BoxBias``), so that a
    detector whose boxes are too wide is judged on the boxes the tracker will use."""
    class_id = dataset.class_names.index(cls)
    distractors = [
        dataset.class_names.index(d) for d in KITTI_DISTRACTORS.get(cls, ()) if d in dataset.class_names
    ]
    scores, hits, seqs = [np.zeros(0)], [np.zeros(0, bool)], [np.zeros(0, object)]
    for seq in dataset.sequences:
        table = _truth_table(dataset, seq.name)
        for i, dets in enumerate(seq.frames):
            mine = dets if dataset.format == "mot" else dets[dets.class_id == class_id]
            if not len(mine):
                continue
            if box_scale != (1.0, 1.0):
                mine = mine.rescaled(*box_scale)
            in_frame = table.frame == i
            truth = table.xyxy[in_frame & ~table.ignore & (_is(table, class_id) | (dataset.format == "mot"))]
            hit = np.zeros(len(mine), bool)
            if len(truth):
                iou = iou_matrix(truth, mine.xyxy)
                rows, cols = linear_sum_assignment(-iou)
                hit[cols[iou[rows, cols] >= min_iou]] = True
            judged = hit | ~_excused(mine.xyxy, table, in_frame, distractors, min_iou)
            scores.append(mine.score[judged])
            hits.append(hit[judged])
            seqs.append(np.full(int(judged.sum()), seq.name, object))
    return ScoreSamples(cls, np.concatenate(scores), np.concatenate(hits), np.concatenate(seqs))


def _is(table: BoxTable, class_id: int) -> np.ndarray:
    return table.class_id == class_id


def _excused(
    xyxy: np.ndarray, table: BoxTable, in_frame: np.ndarray, distractors, min_iou: float
) -> np.ndarray:
    """Detections that evaluation does not judge: on a distractor's box, or mostly (over half
    their area) inside a DontCare region."""
    out = np.zeros(len(xyxy), bool)
    near = table.xyxy[in_frame & np.isin(table.class_id, distractors) & ~table.ignore]
    if len(near):
        out |= iou_matrix(xyxy, near).max(axis=1) >= min_iou
    regions = table.xyxy[in_frame & table.ignore]
    if len(regions):
        lo = np.maximum(xyxy[:, None, :2], regions[None, :, :2])
        hi = np.minimum(xyxy[:, None, 2:], regions[None, :, 2:])
        inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
        area = np.prod(np.clip(xyxy[:, 2:] - xyxy[:, :2], 1e-6, None), axis=1)
        out |= (inter / area[:, None]).max(axis=1) > 0.5
    return out


SCORE_MAP_METHODS = ("isotonic", "logistic")


def fit_score_map(score: np.ndarray, hit: np.ndarray, method: str, knots: int = 48) -> ScoreMap:
    """A monotone map raw score -> precision, as at most ``knots`` points.

    ``isotonic``: centred isotonic regression (Oron and Flournoy, 2017) of hit on score: the
    pool-adjacent-violators fit on bands of equally many detections, then a line through the
    centre of each pooled block, so the map keeps rising between blocks. Plain isotonic
    regression is a staircase, and a staircase makes every score on a step the same to the
    tracker, so thresholds could not fall between them. ``logistic``: Platt scaling,
    sigmoid(a * score + b), read at the band centres.
    """
    if method not in SCORE_MAP_METHODS:
        raise ValueError(f"score map method: expected one of {', '.join(SCORE_MAP_METHODS)}, got {method!r}")
    score = np.asarray(score, np.float64)
    hit = np.asarray(hit, np.float64)
    if len(score) < 2 or np.ptp(score) == 0:
        raise ValueError(f"a score map needs detections of at least two scores, got {len(score)}")
    order = np.argsort(score, kind="stable")
    score, hit = score[order], hit[order]
    bands = np.array_split(np.arange(len(score)), min(knots, len(score)))
    centres = np.array([score[b].mean() for b in bands])
    if method == "isotonic":
        counts = np.array([len(b) for b in bands], np.float64)
        fitted = isotonic_regression(np.array([hit[b].mean() for b in bands]), weights=counts).x
        # One point per pooled block: its count-weighted centre and its value.
        starts = np.flatnonzero(np.r_[True, np.diff(fitted) != 0])
        ends = np.r_[starts[1:], len(fitted)]
        centres = np.array(
            [np.average(centres[i:j], weights=counts[i:j]) for i, j in zip(starts, ends, strict=True)]
        )
        values = fitted[starts]
    else:
        a, b = _platt(score, hit)
        values = 1.0 / (1.0 + np.exp(-(a * centres + b)))
    # The lowest and highest scores are ends of the map, so nothing is extrapolated by interp.
    raw = np.concatenate([[score[0]], centres, [score[-1]]])
    cal = np.concatenate([[values[0]], values, [values[-1]]])
    raw, first = np.unique(np.array([float(f"{v:.6g}") for v in raw]), return_index=True)
    cal = np.maximum.accumulate(np.clip(np.round(cal[first], 4), 0.0, 1.0))
    if len(raw) < 2:  # scores that differ only beyond six digits: nothing to map
        return ScoreMap()
    return ScoreMap(tuple(float(v) for v in raw), tuple(float(v) for v in cal), method)


def _platt(score: np.ndarray, hit: np.ndarray) -> tuple[float, float]:
    """Logistic regression of hit on score (maximum likelihood), scores standardised."""
    mean, std = score.mean(), score.std() or 1.0
    z = (score - mean) / std

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        logits = p[0] * z + p[1]
        prob = 1.0 / (1.0 + np.exp(-logits))
        nll = np.sum(np.logaddexp(0.0, logits) - hit * logits)
        grad = np.array([np.sum((prob - hit) * z), np.sum(prob - hit)])
        return float(nll), grad

    a, b = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B").x
    return float(a / std), float(b - a * mean / std)


def calibrate_scores(samples: ScoreSamples, methods: tuple[str, ...] = SCORE_MAP_METHODS) -> ScoreCalibration:
    """Fit every method, score each by the Brier score of its precision on sequences it was
    not fitted on, and keep the best (its map fitted on all sequences). Detections that all
    share one score say nothing about scores: the map is then empty (scores as they come)."""
    if len(samples) < 2 or np.ptp(samples.score) == 0:
        return ScoreCalibration(samples.cls, samples, ScoreMap(), {})
    names = [s for s in dict.fromkeys(samples.sequence.tolist())]
    brier = {}
    for method in methods:
        errors, count = 0.0, 0
        for held in names:
            test = samples.sequence == held
            train = ~test
            if train.sum() < 2 or np.ptp(samples.score[train]) == 0:
                continue
            predicted = fit_score_map(samples.score[train], samples.hit[train], method)(samples.score[test])
            errors += float(np.sum((predicted - samples.hit[test]) ** 2))
            count += int(test.sum())
        brier[method] = errors / count if count else float("nan")
    best = min(methods, key=lambda m: (np.nan_to_num(brier[m], nan=np.inf), methods.index(m)))
    return ScoreCalibration(samples.cls, samples, fit_score_map(samples.score, samples.hit, best), brier)


def reliability(
    samples: ScoreSamples, score_map: ScoreMap, bands: int = 10
) -> list[tuple[float, float, int]]:
    """(mean calibrated score, observed precision, detections) for bands of equal calibrated
    score width: a calibrated map puts every band on the diagonal."""
    calibrated = score_map(samples.score)
    edges = np.linspace(0.0, 1.0, bands + 1)
    index = np.clip(np.digitize(calibrated, edges) - 1, 0, bands - 1)
    out = []
    for b in range(bands):
        inside = index == b
        if inside.any():
            out.append(
                (float(calibrated[inside].mean()), float(samples.hit[inside].mean()), int(inside.sum()))
            )
    return out


# ---------------------------------------------------------------- whole detector


@dataclass(frozen=True)
class ClassCalibration:
    """What ``track calibrate`` measured of one class: the box bias and, when scores vary, the
    score calibration (None: every detection had one score)."""

    cls: str
    bias: BoxBias
    scores: ScoreCalibration | None

    @property
    def settings(self) -> dict:
        """The ``tracker.per_class.<cls>`` settings that apply it."""
        out: dict = {"box_scale": list(self.bias.suggested_box_scale)}
        if self.scores is not None:
            out["score_map"] = dataclasses.asdict(self.scores.score_map)
        return out


def calibrate_detector(
    dataset: Dataset,
    classes: tuple[str, ...],
    methods: tuple[str, ...] = SCORE_MAP_METHODS,
    min_iou: float = 0.3,
) -> dict[str, ClassCalibration | None]:
    """Each class's calibration; None for a class none of whose detections match a true box.
    ``ValueError`` for a class name the dataset does not have."""
    unknown = [c for c in classes if c not in dataset.class_names]
    if unknown:
        raise ValueError(f"unknown class {unknown[0]!r} (classes: {', '.join(dataset.class_names)})")
    biases = {b.cls: b for b in box_bias(dataset, classes, min_iou)}
    out: dict[str, ClassCalibration | None] = {}
    for cls in classes:
        bias = biases.get(cls)
        if bias is None:
            out[cls] = None
            continue
        samples = score_samples(dataset, cls, box_scale=bias.suggested_box_scale)
        cal = calibrate_scores(samples, methods)
        out[cls] = ClassCalibration(cls, bias, cal if cal.score_map.raw else None)
    return out


def calibrated_config(base: Config, calibrations: list[ClassCalibration], frame_rate: float | None) -> Config:
    """``base`` with each calibrated class's ``box_scale`` and ``score_map`` set in its
    ``per_class`` section (and the dataset's frame rate, when given)."""
    raw = config_to_dict(base)
    tracker = raw["tracker"]
    # Per-class sections as differences from the top, taken before the top changes.
    per_class = {}
    for name, section in tracker["per_class"].items():
        d = diff(section, tracker)
        per_class[name] = {} if d is SAME else {k: v for k, v in d.items() if k != "per_class"}
    if frame_rate is not None:
        tracker["frame_rate"] = frame_rate
    for cal in calibrations:
        per_class[cal.cls] = {**per_class.get(cal.cls, {}), **cal.settings}
    tracker["per_class"] = per_class
    return config_from_dict(raw)
