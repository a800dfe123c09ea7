"""Parameter search for the tracker on a dataset with ground truth (``track tune``).

Random search over a bounded space: first the settings shared by all classes
(``SHARED_SPACE``), then each class in turn on its own ``tracker.per_class.<class>`` settings,
then one pass of coordinate search per class. Trial 1 of every stage is the config it starts
from, so the result is never worse than it on the data searched.

What a trial is judged by: the mean over the tuned classes (car and pedestrian on KITTI) of
the HOTA of each sequence, averaged with weights that grow as the square root of the
sequence's true boxes. TrackEval's combined HOTA weighs sequences by
their boxes, so that one long sequence could decide (on the KITTI dev split one sequence holds
58 % of the pedestrians); equal weights would let a sequence with 22 boxes count as much as one
with 782. A setting must win on most of the data, not in one place.

Overfitting guard: the leave-one-sequence-out estimate of the whole search: for every
sequence, the trial that is best on the *other* sequences is scored on it. A stage's best is
kept only when that estimate beats the config the stage started from; otherwise the search
is fitting noise (a setting that wins on the sequences it was chosen on and loses on the one
it was not) and the start is kept. For a random stage the estimate is honest (its trials do
not depend on the data); a coordinate pass chose its path on every sequence, so its
estimate, which re-picks among the trials on that path, leans optimistic. On the KITTI dev
split with RRC detections the guard rejects the pedestrian random search (its best raised
pedestrian HOTA 54.7 -> 56.4, better on 4 of 16 class-sequences; the estimate fell below the
start), and the coordinate pass from the start then holds up (57.35, better on 6 of the 7
pedestrian sequences). We also count the class-sequences on which the best settings beat the
starting config.
"""

from __future__ import annotations

import itertools
import random
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..config import Config, ConfigError, config_from_dict, config_to_dict, diff_from_default
from ..formats import write_lines_atomic
from .datasets import Dataset, run_dataset

# Dotted keys under ``tracker`` and the values tried, per class. Bounded and coarse on purpose;
# score thresholds are on calibrated scores (``track calibrate``), so one range serves any detector.
DEFAULT_SPACE: dict[str, list[Any]] = {
    "lifecycle.high_score": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "lifecycle.new_track_score": [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "lifecycle.report_score": [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95],
    "lifecycle.evidence": ["max", "accumulate"],
    "lifecycle.low_score": [0.0, 0.02, 0.05, 0.1, 0.2],
    "lifecycle.min_hits": [1, 2, 3],
    "lifecycle.instant_confirm_score": [0.9, 0.95, 0.98, 0.99, 1.01],
    "lifecycle.max_lost_s": [0.5, 1.0, 2.0, 3.0],
    "lifecycle.birth_velocity_radius": [0.0, 4.0],
    "association.cost": ["iou", "giou", "diou"],
    "association.max_cost": [0.4, 0.5, 0.6, 0.7, 0.8],
    "association.recovery_max_cost": [0.0, 0.8, 0.9, 1.0, 1.1],
    "association.low_max_cost": [0.4, 0.5, 0.6, 0.7],
    "association.tentative_max_cost": [0.5, 0.7, 0.8, 1.0],
    "association.refind_max_cost": [0.0, 0.6],
    "motion.std_acceleration": [0.5, 1.0, 2.0, 3.0, 5.0],
    "motion.std_measurement": [0.02, 0.03, 0.05, 0.08],
}

# Settings of the whole tracker (not per class), tried in full before the classes: whether a
# box of one class group suppresses an overlapping, stronger one of another.
SHARED_SPACE: dict[str, list[Any]] = {
    "cross_class_nms_iou": [1.0, 0.5, 0.3],
    "cross_class_nms_classes": [[], ["pedestrian", "cyclist"]],
}


@dataclass
class Trial:
    params: dict[str, Any]
    hota: dict[str, float]  # class -> HOTA over all sequences (TrackEval's combined)
    per_sequence: dict[str, dict[str, float]]  # class -> sequence -> HOTA
    idsw: dict[str, int]  # class -> id switches over all sequences
    gt_boxes: dict[str, dict[str, int]]  # class -> sequence -> true boxes (only those with any)

    def objective(self, sequences: dict[str, list[str]] | None = None) -> float:
        """Mean over classes of the HOTA of ``sequences`` (class -> names; default: every
        sequence with ground truth of the class), weighted by sqrt(true boxes)."""
        means = []
        for cls, per in self.per_sequence.items():
            names = [s for s in (per if sequences is None else sequences[cls]) if s in per]
            weights = [self.gt_boxes[cls][s] ** 0.5 for s in names]
            if names and sum(weights) > 0:
                means.append(sum(per[s] * w for s, w in zip(names, weights, strict=True)) / sum(weights))
        return sum(means) / len(means) if means else 0.0


@dataclass
class StageResult:
    stage: str  # "shared" or a class name
    best: Trial
    start: Trial
    trials: list[Trial]
    loso: float  # leave-one-sequence-out estimate of the objective
    sequences_improved: int
    sequences: int

    @property
    def checkable(self) -> bool:
        """Whether there are sequences enough (2) to judge the search on unseen ones."""
        return len({s for per in self.start.per_sequence.values() for s in per}) >= 2

    @property
    def kept(self) -> bool:
        """Whether the stage's best replaces its start: it differs from it, and the search
        holds up on unseen sequences (its leave-one-sequence-out estimate beats the start).
        With a single sequence nothing can be held out, and the best is kept unchecked."""
        if self.best is self.start:
            return False
        if not self.checkable:
            return self.best.objective() > self.start.objective()
        return self.loso > self.start.objective()

    @property
    def chosen(self) -> Trial:
        """The trial the stage hands on: its best when kept, else its start."""
        return self.best if self.kept else self.start

    @property
    def best_trial(self) -> int:
        """The best trial's number, 1 = the start (see ``draws`` for the others); it replaces
        the start only when ``kept``."""
        return next(i for i, t in enumerate(self.trials) if t is self.best) + 1

    def summary(self) -> str:
        hota = ", ".join(f"{c} {v:.2f}" for c, v in self.best.hota.items())
        return (
            f"{self.stage}: trial {self.best_trial} of {len(self.trials)}, objective "
            f"{self.start.objective():.2f} -> {self.best.objective():.2f} (HOTA {hota}; "
            f"leave-one-sequence-out {self.loso:.2f}; better on {self.sequences_improved}/"
            f"{self.sequences} class-sequences)" + self._verdict()
        )

    def _verdict(self) -> str:
        if self.best is self.start:
            return ": start kept"
        if not self.checkable:
            return ": kept, unchecked (one sequence: none to hold out)"
        if self.kept:
            return ": kept"
        return ": start kept, the search does not hold up on unseen sequences"


def _set(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        tree = tree.setdefault(part, {})
    tree[parts[-1]] = value


def _with_class_params(base: Config, cls: str | None, params: dict[str, Any]) -> Config | None:
    """``base`` with ``params`` set for class ``cls`` (None: at the top); None when the
    result is not a valid config."""
    try:
        return _class_config(base, cls, params)
    except ConfigError:
        return None


def _class_config(base: Config, cls: str | None, params: dict[str, Any]) -> Config:
    raw = config_to_dict(base)
    tracker = raw["tracker"]
    if cls is None:
        for key, value in params.items():
            _set(tracker, key, value)
    else:
        per_class = tracker.get("per_class", {})
        sub = {k: v for k, v in per_class.get(cls, {}).items() if k != "per_class"}
        # Start from this class's current settings, so untouched keys keep their tuned values.
        sub = _diff_from(tracker, sub)
        for key, value in params.items():
            _set(sub, key, value)
        tracker["per_class"] = {**{k: _diff_from(tracker, v) for k, v in per_class.items()}, cls: sub}
    return config_from_dict(raw)


def _diff_from(base: dict, full: dict) -> dict:
    out = {}
    for key, value in full.items():
        if key == "per_class":
            continue
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            d = _diff_from(base[key], value)
            if d:
                out[key] = d
        elif base.get(key) != value:
            out[key] = value
    return out


def _with_shared_params(base: Config, params: dict[str, Any]) -> Config:
    """``params`` set at the top of ``tracker`` and, so that no class keeps an old value, in
    every ``per_class`` section."""
    raw = config_to_dict(base)
    tracker = raw["tracker"]
    per_class = {k: _diff_from(tracker, v) for k, v in tracker.get("per_class", {}).items()}
    for key, value in params.items():
        _set(tracker, key, value)
    tracker["per_class"] = per_class
    return config_from_dict(raw)


def _evaluate(job: tuple[Dataset, Config | None, tuple[str, ...] | None, dict]) -> Trial:
    dataset, config, classes, params = job
    if config is None:  # a combination the config does not allow (low_score above high_score)
        return Trial(params, {}, {}, {}, {})
    with tempfile.TemporaryDirectory(prefix="track-tune-") as tmp:
        run_dataset(dataset, config.tracker, tmp)
        metrics = dataset.evaluate(tmp, classes=classes)
    names = list(metrics["COMBINED"])
    per_seq = {
        c: {s: m[c].HOTA for s, m in metrics.items() if s != "COMBINED" and c in m and m[c].gt_dets > 0}
        for c in names
    }
    hota = {c: metrics["COMBINED"][c].HOTA for c in names}
    idsw = {c: metrics["COMBINED"][c].IDSW for c in names}
    boxes = {c: {s: metrics[s][c].gt_dets for s in per_seq[c]} for c in names}
    return Trial(params, hota, per_seq, idsw, boxes)


def draws(space: dict[str, list[Any]], seed: int, stage: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` random settings a class stage tries (its trials 2, 3, ...; trial 1
    is the start). Each stage has its own stream, so a draw does not depend on how many
    trials other stages ran: a tuned config can be re-derived from its seed and trial number."""
    rng = random.Random(f"{seed}:{stage}")
    return [{key: rng.choice(values) for key, values in space.items()} for _ in range(count)]


def _grid(space: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*space.values())]


def _loso(trials: list[Trial]) -> float:
    """The objective when each sequence is scored by the trial that is best on the others."""
    first = trials[0]
    seqs = sorted({s for per in first.per_sequence.values() for s in per})
    held_out: dict[str, list[tuple[float, float]]] = {c: [] for c in first.per_sequence}
    for held in seqs:
        rest = {c: [s for s in per if s != held] for c, per in first.per_sequence.items()}
        chosen = max(trials, key=lambda t, rest=rest: t.objective(rest))
        for c, values in held_out.items():
            if held in chosen.per_sequence.get(c, {}):
                values.append((chosen.per_sequence[c][held], first.gt_boxes[c][held] ** 0.5))
    means = [sum(v * w for v, w in pairs) / sum(w for _, w in pairs) for pairs in held_out.values() if pairs]
    return sum(means) / len(means) if means else 0.0


def _run(
    jobs: list[tuple[Dataset, Config | None, tuple[str, ...] | None, dict]],
    workers: int,
    name: str,
    progress: Callable[[str, int, Trial], None] | None,
    offset: int = 0,
) -> list[Trial]:
    done: list[Trial] = []
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        for i, trial in enumerate(pool.map(_evaluate, jobs)):
            done.append(trial)
            if progress:
                progress(name, offset + i, trial)
    return done


def _result(name: str, best: Trial, done: list[Trial]) -> StageResult:
    start = done[0]
    pairs = [(c, s) for c, per in start.per_sequence.items() for s in per]
    improved = sum(best.per_sequence[c].get(s, 0.0) > start.per_sequence[c][s] for c, s in pairs)
    return StageResult(name, best, start, done, _loso(done), improved, len(pairs))


def _stage(
    name: str,
    jobs: list[tuple[Dataset, Config | None, tuple[str, ...] | None, dict]],
    workers: int,
    progress: Callable[[str, int, Trial], None] | None,
) -> StageResult:
    done = _run(jobs, workers, name, progress)
    best = max(done, key=lambda t: t.objective())  # the first of equals: the start wins ties
    return _result(name, best, done)


def tune(
    dataset: Dataset,
    base: Config,
    classes: tuple[str, ...] | None,
    trials: int,
    seed: int = 0,
    space: dict[str, list[Any]] | None = None,
    workers: int = 1,
    progress: Callable[[str, int, Trial], None] | None = None,
    shared_space: dict[str, list[Any]] | None = None,
    refine: bool = True,
) -> tuple[Config, list[StageResult]]:
    """Search the shared settings (every combination of ``shared_space``), then each class in
    turn (``trials`` random draws from ``space``, the first being the current config, then with
    ``refine`` one pass of coordinate search from the best); every trial is scored on all
    ``classes``. A stage's best is adopted only when it holds up leave-one-sequence-out
    (``StageResult.kept``). Returns the resulting config and a report per stage.

    ``classes`` None tunes the top-level tracker settings against the dataset's only class.
    """
    space = space or DEFAULT_SPACE
    shared_space = SHARED_SPACE if shared_space is None else shared_space
    config = base
    results = []
    if classes and shared_space:
        grid = [p for p in _grid(shared_space)]
        jobs = [(dataset, config, classes, {})] + [
            (dataset, _with_shared_params(config, p), classes, p) for p in grid
        ]
        result = _stage("shared", jobs, workers, progress)
        results.append(result)
        if result.kept:
            config = _with_shared_params(config, result.best.params)
    for cls in classes or (None,):
        jobs = [(dataset, config, classes, {})]
        for params in draws(space, seed, cls or "all", trials - 1):
            jobs.append((dataset, _with_class_params(config, cls, params), classes, params))
        result = _stage(cls or "all", jobs, workers, progress)
        results.append(result)
        if result.kept:
            config = _with_class_params(config, cls, result.best.params)
        if refine:
            refined, result = _refine(dataset, config, classes, cls, space, result.chosen, workers, progress)
            results.append(result)
            if result.kept:
                config = refined
    return config, results


def _refine(
    dataset: Dataset,
    config: Config,
    classes: tuple[str, ...] | None,
    cls: str | None,
    space: dict[str, list[Any]],
    start: Trial,
    workers: int,
    progress: Callable[[str, int, Trial], None] | None,
) -> tuple[Config, StageResult]:
    """One pass of coordinate search from the random search's best: each key in turn tries its
    other values with the rest held, and keeps the best if it beats the current one. Random
    draws find the region; this settles each key within it."""
    name = f"{cls or 'all'} refine"
    current = start
    tracker = config.tracker.for_class(cls) if cls else config.tracker
    params = {key: _get(tracker, key) for key in space}
    tried: list[Trial] = [start]
    for key, values in space.items():
        others = [v for v in values if v != params[key]]
        jobs = [(dataset, _with_class_params(config, cls, {key: v}), classes, {key: v}) for v in others]
        done = _run(jobs, workers, name, progress, offset=len(tried))
        tried += done
        best = max(done, key=lambda t: t.objective(), default=None)
        if best is not None and best.objective() > current.objective():
            params[key] = best.params[key]
            config = _with_class_params(config, cls, {key: params[key]})
            current = best
    changed = {k: v for k, v in params.items() if v != _get(tracker, k)}
    final = Trial(changed, current.hota, current.per_sequence, current.idsw, current.gt_boxes)
    tried = [final if t is current else t for t in tried]
    return config, _result(name, final, tried)


def _get(tracker: Any, dotted: str) -> Any:
    node = tracker
    for part in dotted.split("."):
        node = getattr(node, part)
    return list(node) if isinstance(node, tuple) else node


def report_rows(results: list[StageResult]) -> list[dict[str, Any]]:
    return [
        {
            "stage": r.stage,
            "start_objective": round(r.start.objective(), 3),
            "best_objective": round(r.best.objective(), 3),
            "loso_objective": round(r.loso, 3),
            "best_hota": {c: round(v, 3) for c, v in r.best.hota.items()},
            "sequences_improved": f"{r.sequences_improved}/{r.sequences}",
            "trials": len(r.trials),
            "best_params": r.best.params,
            "kept": r.kept,
        }
        for r in results
    ]


def load_space(path: str | Path) -> dict[str, list[Any]]:
    """A search space from YAML: dotted keys under ``tracker`` -> non-empty lists of values."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(raw, dict) or not all(isinstance(v, list) and v for v in raw.values()):
        raise ConfigError(f"{path}: expected a mapping of dotted key to a non-empty list of values")
    probe = Config()
    for key in sorted(set(raw) - set(DEFAULT_SPACE)):
        node = probe.tracker
        for part in key.split("."):
            if not hasattr(node, part):
                raise ConfigError(f"{path}: unknown key tracker.{key}")
            node = getattr(node, part)
    return raw


def provenance(path: str | Path | None) -> list[str]:
    """The ``# Written by`` lines at the top of a config file: how it was made."""
    if path is None or not Path(path).is_file():
        return []
    lines = []
    for line in Path(path).read_text().splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("# Written by") or line.startswith("#   "):
            lines.append(line[2:])
    return lines


def tuned_header(command: str, results: list[StageResult], base_path: str | Path | None) -> str:
    """The header of a tuned config: how its base was made, the tune command, and per stage
    the trial kept, its figures and, per class, its HOTA on each sequence."""
    lines = [*provenance(base_path), f"Written by `{command}`"]
    for r in results:
        lines.append(f"  {r.summary()}")
    final = results[-1].chosen if results else None
    if final is not None:
        for cls, per in final.per_sequence.items():
            lines.append(f"  {cls} HOTA per sequence: " + ", ".join(f"{s} {v:.3f}" for s, v in per.items()))
    return "\n".join(lines)


def write_config(path: str | Path, config: Config, header: str = "Written by `track tune`") -> None:
    """A config as YAML, only what differs from the defaults, under a comment (``header``)."""
    text = "".join(f"# {line}\n" for line in header.splitlines())
    text += "# Only what differs from the defaults.\n"
    text += yaml.safe_dump(
        diff_from_default(config) or {}, sort_keys=True, default_flow_style=None, width=100
    )
    write_lines_atomic(path, [text])
