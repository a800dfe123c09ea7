"""``track tune``: what a trial is judged by, the leave-one-sequence-out guard, reproducible
draws, and the coordinate pass."""

import pytest

from tracker.config import Config
from tracker.eval.tune import DEFAULT_SPACE, Trial, _class_config, _loso, _with_class_params, draws


def trial(params, car, ped=None, boxes=None):
    per = {"car": car} | ({"pedestrian": ped} if ped else {})
    boxes = boxes or {c: {s: 100 for s in v} for c, v in per.items()}
    return Trial(params, {c: sum(v.values()) / len(v) for c, v in per.items()}, per, {}, boxes)


def test_objective_is_the_mean_of_classes_over_sqrt_weighted_sequences():
    t = trial({}, {"a": 80.0, "b": 60.0}, {"a": 50.0}, {"car": {"a": 400, "b": 100}, "pedestrian": {"a": 9}})
    # car: (80 * 20 + 60 * 10) / 30; pedestrian: 50
    assert t.objective() == pytest.approx(((80 * 20 + 60 * 10) / 30 + 50) / 2)


def test_a_setting_that_wins_on_one_long_sequence_does_not_decide():
    # Sequence "long" has 100x the boxes of the others. Box-weighted HOTA prefers "lucky"
    # (+1 there, -3 on the four others); the sqrt-weighted objective prefers "steady".
    boxes = {"car": {"long": 10000, "a": 100, "b": 100, "c": 100, "d": 100}}
    steady = trial({"x": 1}, {"long": 70.0, "a": 70.0, "b": 70.0, "c": 70.0, "d": 70.0}, boxes=boxes)
    lucky = trial({"x": 2}, {"long": 71.0, "a": 67.0, "b": 67.0, "c": 67.0, "d": 67.0}, boxes=boxes)
    weighted = {
        t.params["x"]: sum(v * boxes["car"][s] for s, v in t.per_sequence["car"].items())
        for t in (steady, lucky)
    }
    assert weighted[2] > weighted[1]
    assert steady.objective() > lucky.objective()


def test_leave_one_sequence_out_scores_each_sequence_with_the_trial_best_elsewhere():
    # "spiky" is best only because of sequence "a": held out, "a" is scored by "flat".
    flat = trial({"x": 1}, {"a": 60.0, "b": 70.0, "c": 70.0})
    spiky = trial({"x": 2}, {"a": 90.0, "b": 65.0, "c": 65.0})
    assert spiky.objective() > flat.objective()
    # a: best on b, c is flat (60); b: best on a, c is spiky (65); c: likewise (65).
    assert _loso([flat, spiky]) == pytest.approx((60 + 65 + 65) / 3)


def test_draws_depend_only_on_seed_and_stage():
    first = draws(DEFAULT_SPACE, 0, "car", 5)
    assert draws(DEFAULT_SPACE, 0, "car", 12)[:5] == first  # more trials: the same first draws
    assert draws(DEFAULT_SPACE, 0, "pedestrian", 5) != first
    assert draws(DEFAULT_SPACE, 1, "car", 5) != first


def test_an_impossible_combination_is_skipped_not_an_error():
    assert (
        _with_class_params(Config(), "car", {"lifecycle.low_score": 0.5, "lifecycle.high_score": 0.2}) is None
    )
    ok = _class_config(Config(), "car", {"lifecycle.high_score": 0.3})
    assert ok.tracker.for_class("car").lifecycle.high_score == 0.3
    assert ok.tracker.for_class("pedestrian").lifecycle.high_score == Config().tracker.lifecycle.high_score


def _stage_result(trials):
    from tracker.eval.tune import _result

    best = max(trials, key=lambda t: t.objective())
    return _result("car", best, trials)


def test_a_search_that_does_not_hold_up_on_unseen_sequences_keeps_its_start():
    # "spiky" wins in-sample only through sequence "a"; scored on each sequence by the trial
    # best on the others, the search is worse than not searching.
    start = trial({}, {"a": 70.0, "b": 70.0, "c": 70.0})
    spiky_a = trial({"x": 1}, {"a": 95.0, "b": 66.0, "c": 66.0})
    spiky_b = trial({"x": 2}, {"a": 66.0, "b": 80.0, "c": 66.0})
    r = _stage_result([start, spiky_a, spiky_b])
    assert r.best is spiky_a and r.best.objective() > start.objective()
    assert r.loso < start.objective()
    assert not r.kept and r.chosen is start
    assert "start kept" in r.summary()


def test_a_search_that_wins_everywhere_is_kept():
    start = trial({}, {"a": 70.0, "b": 70.0, "c": 70.0})
    better = trial({"x": 1}, {"a": 72.0, "b": 71.0, "c": 73.0})
    r = _stage_result([start, better])
    assert r.kept and r.chosen is better
    assert r.summary().endswith(": kept")


HIGH = "lifecycle.high_score"
SPIKY = {0.6: (70.0, 70.0, 70.0), 0.3: (95.0, 66.0, 66.0), 0.5: (66.0, 80.0, 66.0)}
STEADY = {0.6: (70.0, 70.0, 70.0), 0.3: (69.0, 69.0, 69.0), 0.5: (72.0, 71.0, 73.0)}


def _fake_run(table, sequences=("a", "b", "c")):
    """``tune._run`` scoring each job's config from ``table``: car high_score -> HOTA per sequence."""

    def run(jobs, workers, name, progress, offset=0):
        out = []
        for _, config, _, params in jobs:
            per = dict(
                zip(sequences, table[config.tracker.for_class("car").lifecycle.high_score], strict=False)
            )
            out.append(trial(params, per))
        return out

    return run


@pytest.mark.parametrize(
    "table, sequences, expected",
    [
        (SPIKY, ("a", "b", "c"), 0.6),  # every stage fits noise: the start survives
        (STEADY, ("a", "b", "c"), 0.5),  # better on every sequence: kept
        (SPIKY, ("a",), 0.3),  # one sequence, nothing to hold out: the best, unchecked
    ],
)
def test_tune_applies_only_the_stages_that_hold_up(monkeypatch, table, sequences, expected):
    from tracker.eval import tune as tune_module

    monkeypatch.setattr(tune_module, "_run", _fake_run(table, sequences))
    config, results = tune_module.tune(
        None, Config(), ("car",), trials=6, space={HIGH: [0.6, 0.3, 0.5]}, shared_space={}
    )
    assert config.tracker.for_class("car").lifecycle.high_score == expected
    header = tune_module.tuned_header("track tune x", results, None)
    per_sequence = header.splitlines()[-1]
    assert per_sequence.startswith("  car HOTA per sequence: ")
    assert f"{sequences[0]} {table[expected][0]:.3f}" in per_sequence  # the written config's figures
