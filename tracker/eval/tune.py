"""Parameter search for the tracker on a dataset with ground truth (``track tune``).

Random search over a bounded space, one class at a time: each class group gets its own
``tracker.per_class.<class>`` settings. Trial 0 is always the starting config, so the result
is never worse than it on the data searched.

Overfitting guard: from the same pool of trials we compute a leave-one-sequence-out score:
for every sequence, the trial that is best on the *other* sequences is scored on it. When that
score is far below the best trial's, the search is fitting noise. We also count the sequences
on which the chosen settings beat the starting config.
"""

from __future__ import annotations

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

# Dotted keys under ``tracker`` and the values tried. Bounded and coarse on purpose.
DEFAULT_SPACE: dict[str, list[Any]] = {
    "lifecycle.high_score": [0.5, 0.7, 0.8, 0.85, 0.9, 0.95],
    "lifecycle.new_track_score": [0.5, 0.7, 0.8, 0.9, 0.95],
    "lifecycle.report_score": [0.0, 0.9, 0.95, 0.98],
    "lifecycle.low_score": [0.05, 0.1, 0.3],
    "lifecycle.min_hits": [1, 2, 3],
    "lifecycle.max_lost_s": [0.5, 1.0, 2.0, 3.0],
    "association.cost": ["iou", "giou", "diou"],
    "association.max_cost": [0.4, 0.5, 0.6, 0.7, 0.8],
    "association.recovery_max_cost": [0.0, 0.8, 0.9, 1.0, 1.1],
    "association.low_max_cost": [0.4, 0.5, 0.6, 0.7],
    "association.tentative_max_cost": [0.5, 0.7, 0.8, 1.0],
    "motion.std_acceleration": [0.5, 1.0, 2.0, 3.0, 5.0],
    "motion.std_measurement": [0.02, 0.03, 0.05, 0.08],
}


@dataclass
class Trial:
    params: dict[str, Any]
    hota: float  # over all sequences
    per_sequence: dict[str, float]
    weights: dict[str, int]  # ground-truth boxes per sequence


@dataclass
class ClassResult:
    cls: str
    best: Trial
    start: Trial
    trials: list[Trial]
    loso_hota: float  # leave-one-sequence-out estimate
    sequences_improved: int


def _set(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        tree = tree.setdefault(part, {})
    tree[parts[-1]] = value


def _with_class_params(base: Config, cls: str | None, params: dict[str, Any]) -> Config:
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


def _evaluate(job: tuple[Dataset, Config, str | None, dict]) -> Trial:
    dataset, config, cls, params = job
    with tempfile.TemporaryDirectory(prefix="track-tune-") as tmp:
        run_dataset(dataset, config.tracker, tmp)
        metrics = dataset.evaluate(tmp, classes=(cls,) if cls else None)
    key = cls or next(iter(metrics["COMBINED"]))
    per_seq = {s: m[key].HOTA for s, m in metrics.items() if s != "COMBINED"}
    weights = {s: m[key].gt_dets for s, m in metrics.items() if s != "COMBINED"}
    return Trial(params, metrics["COMBINED"][key].HOTA, per_seq, weights)


def _sample(space: dict[str, list[Any]], rng: random.Random) -> dict[str, Any]:
    return {key: rng.choice(values) for key, values in space.items()}


def _loso(trials: list[Trial]) -> float:
    """Ground-truth-weighted HOTA when each sequence is scored by the trial best elsewhere."""
    seqs = list(trials[0].per_sequence)
    total = sum(trials[0].weights[s] for s in seqs) or 1
    score = 0.0
    for held in seqs:

        def rest(t: Trial, held: str = held) -> float:
            w = sum(t.weights[s] for s in seqs if s != held) or 1
            return sum(t.per_sequence[s] * t.weights[s] for s in seqs if s != held) / w

        chosen = max(trials, key=rest)
        score += chosen.per_sequence[held] * trials[0].weights[held]
    return score / total


def tune(
    dataset: Dataset,
    base: Config,
    classes: tuple[str, ...] | None,
    trials: int,
    seed: int = 0,
    space: dict[str, list[Any]] | None = None,
    workers: int = 1,
    progress: Callable[[str, int, Trial], None] | None = None,
) -> tuple[Config, list[ClassResult]]:
    """Search each class in turn; returns the best config and a report per class.

    ``classes`` None tunes the top-level tracker settings against the dataset's only class.
    """
    space = space or DEFAULT_SPACE
    rng = random.Random(seed)
    config = base
    results = []
    for cls in classes or (None,):
        jobs = [(dataset, config, cls, {})]
        for _ in range(trials - 1):
            params = _sample(space, rng)
            jobs.append((dataset, _with_class_params(config, cls, params), cls, params))
        done: list[Trial] = []
        with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            for i, trial in enumerate(pool.map(_evaluate, jobs)):
                done.append(trial)
                if progress:
                    progress(cls or "all", i, trial)
        best = max(done, key=lambda t: t.hota)
        start = done[0]
        improved = sum(best.per_sequence[s] > start.per_sequence[s] for s in start.per_sequence)
        results.append(ClassResult(cls or "all", best, start, done, _loso(done), improved))
        if best is not start:
            config = _with_class_params(config, cls, best.params)
    return config, results


def report_rows(results: list[ClassResult]) -> list[dict[str, Any]]:
    return [
        {
            "class": r.cls,
            "start_hota": round(r.start.hota, 3),
            "best_hota": round(r.best.hota, 3),
            "loso_hota": round(r.loso_hota, 3),
            "sequences_improved": f"{r.sequences_improved}/{len(r.start.per_sequence)}",
            "trials": len(r.trials),
            "best_params": r.best.params,
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


def write_config(path: str | Path, config: Config) -> None:
    """The tuned config as YAML: only what differs from the defaults."""
    text = "# Written by `track tune`; only what differs from the defaults.\n"
    text += yaml.safe_dump(diff_from_default(config) or {}, sort_keys=True)
    write_lines_atomic(path, [text])
