"""Score maps: fitted by ``track calibrate`` so that scores read as precisions, applied by the
tracker per class before any threshold."""

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import kitti_label_line
from tracker.cli import main
from tracker.config import ConfigError, load_config
from tracker.config_tracker import ScoreMap
from tracker.eval.calibrate import calibrate_scores, fit_score_map, reliability, score_samples
from tracker.eval.datasets import load_kitti
from tracker.formats import KITTI_CLASSES
from tracker.structures import Detections
from tracker.tracks import Tracker

# Score bands of the fixture and the share of their detections that are real cars.
BANDS = [((0.10, 0.30), 0.1), ((0.30, 0.50), 0.3), ((0.50, 0.70), 0.6), ((0.70, 0.95), 0.9)]


def known_precision_kitti(root, sequences=("0000", "0001", "0002"), frames=60, seed=0):
    """Per frame and band, ten detections of cars: ``precision * 10`` of them on a true car,
    the rest on empty road. Detections in RRC's layout, scores drawn inside the band."""
    rng = np.random.default_rng(seed)
    (root / "label_02").mkdir(parents=True)
    for cls in ("car", "pedestrian"):
        (root / "det_rrc" / cls).mkdir(parents=True)
    for seq in sequences:
        labels, dets = [], []
        for f in range(frames):
            tid = 0
            for b, ((lo, hi), precision) in enumerate(BANDS):
                real = int(round(precision * 10))
                for k in range(10):
                    box = (40 + 110 * k, 20 + 90 * b, 130 + 110 * k, 100 + 90 * b)
                    if k < real:
                        labels.append(kitti_label_line(f, tid, "Car", box))
                        tid += 1
                    dets.append("{},{},{},{},{},{:.4f}\n".format(f, *box, rng.uniform(lo, hi)))
        (root / "label_02" / f"{seq}.txt").write_text("".join(labels))
        (root / "det_rrc" / "car" / f"{seq}.txt").write_text("".join(dets))
        (root / "det_rrc" / "pedestrian" / f"{seq}.txt").write_text("")
    (root / "seqmap.txt").write_text("".join(f"{s} empty 000000 {frames:06d}\n" for s in sequences))
    return root


@pytest.mark.parametrize("method", ["isotonic", "logistic"])
def test_score_map_is_monotone(method):
    rng = np.random.default_rng(1)
    score = rng.normal(size=3000)
    hit = rng.random(3000) < 1 / (1 + np.exp(-2 * score))
    score_map = fit_score_map(score, hit, method)
    assert all(b > a for a, b in zip(score_map.raw, score_map.raw[1:], strict=False))
    grid = np.linspace(-5, 5, 500)
    assert np.all(np.diff(score_map(grid)) >= 0)
    assert 0 <= score_map(grid).min() and score_map(grid).max() <= 1


def test_precision_is_measured_per_score_band(tmp_path):
    dataset = load_kitti(known_precision_kitti(tmp_path / "kitti"), "det_rrc")
    samples = score_samples(dataset, "car")
    assert len(samples) == 3 * 60 * 40
    assert samples.hit.mean() == pytest.approx(np.mean([p for _, p in BANDS]))
    cal = calibrate_scores(samples, ("isotonic",))
    # Centred isotonic regression runs a line between the centres of the pooled bands: at
    # each band's centre the map reads that band's precision.
    for (lo, hi), precision in BANDS:
        assert cal.score_map(np.array([(lo + hi) / 2]))[0] == pytest.approx(precision, abs=0.05)
    # Reliability: over the bands of calibrated score, the precision observed is the one
    # claimed, to 0.05 on average (weighted by detections; the map is a line where the true
    # precision steps, so the bands at a step are off by more, the others by less).
    bands = reliability(samples, cal.score_map)
    error = sum(n * abs(claimed - observed) for claimed, observed, n in bands) / sum(n for *_, n in bands)
    assert error < 0.05


def test_calibrate_keeps_the_method_that_predicts_unseen_sequences_best(tmp_path):
    dataset = load_kitti(known_precision_kitti(tmp_path / "kitti"), "det_rrc")
    cal = calibrate_scores(score_samples(dataset, "car"))
    # Precision jumps between bands: a sigmoid cannot follow the steps, isotonic can.
    assert cal.brier["isotonic"] < cal.brier["logistic"]
    assert cal.method == "isotonic"


def test_distractors_and_dontcare_are_not_judged(tmp_path):
    root = tmp_path / "kitti"
    (root / "label_02").mkdir(parents=True)
    (root / "det_rrc" / "car").mkdir(parents=True)
    labels = [
        kitti_label_line(0, 0, "Car", (0, 0, 50, 50)),
        kitti_label_line(0, 1, "Van", (100, 0, 150, 50)),
        "0 -1 DontCare -1 -1 -10 200 0 300 100 -1000 -1000 -1000 -10 -1 -1 -1\n",
    ]
    (root / "label_02" / "0000.txt").write_text("".join(labels))
    dets = ["0,0,0,50,50,0.9\n", "0,100,0,150,50,0.8\n", "0,210,10,260,60,0.7\n", "0,400,0,450,50,0.6\n"]
    (root / "det_rrc" / "car" / "0000.txt").write_text("".join(dets))
    (root / "seqmap.txt").write_text("0000 empty 000000 000001\n")
    samples = score_samples(load_kitti(root, "det_rrc"), "car")
    np.testing.assert_allclose(samples.score, [0.9, 0.6])  # the van's and the DontCare one left out
    assert samples.hit.tolist() == [True, False]


def test_tracker_thresholds_act_on_calibrated_scores_of_each_class():
    # Raw car scores 0..10 mapped linearly to 0..1; pedestrians have no map.
    config = load_config(
        None,
        [
            "tracker.per_class.car.score_map.raw=[0.0,10.0]",
            "tracker.per_class.car.score_map.calibrated=[0.0,1.0]",
            "tracker.lifecycle.min_hits=1",
            "tracker.lifecycle.new_track_score=0.5",
            "tracker.lifecycle.high_score=0.5",
        ],
    ).tracker
    tracker = Tracker(config, KITTI_CLASSES)
    car, ped = KITTI_CLASSES.index("car"), KITTI_CLASSES.index("pedestrian")
    dets = Detections(
        np.array([[0, 0, 40, 40], [100, 0, 140, 40], [200, 0, 220, 60]], np.float32),
        np.array([4.0, 8.0, 0.6], np.float32),
        np.array([car, car, ped]),
    )
    tracks = tracker.update(dets, 0.0)
    # Raw 4 -> 0.4: too weak to start a track; raw 8 -> 0.8 does; the pedestrian's 0.6 as is.
    assert tracks.class_id.tolist() == [car, ped]
    np.testing.assert_allclose(tracks.score, [0.8, 0.6], rtol=1e-6)
    np.testing.assert_allclose(tracks.xyxy[0], [100, 0, 140, 40])


@pytest.mark.parametrize(
    "raw,calibrated,message",
    [
        ("[0.0,1.0]", "[0.5]", "as many points"),
        ("[1.0,0.0]", "[0.2,0.5]", "increase strictly"),
        ("[0.0,1.0]", "[0.6,0.5]", "must not decrease"),
        ("[0.0,1.0]", "[0.5,1.5]", "calibrated"),
    ],
)
def test_bad_score_maps_are_config_errors(raw, calibrated, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [f"tracker.score_map.raw={raw}", f"tracker.score_map.calibrated={calibrated}"])


def test_empty_score_map_leaves_scores_alone():
    scores = np.array([-3.0, 12.0], np.float32)
    assert ScoreMap()(scores) is scores


def test_calibrate_writes_a_config_and_plots(tmp_path):
    data = known_precision_kitti(tmp_path / "kitti")
    out, plots = tmp_path / "calibrated.yaml", tmp_path / "plots"
    args = ["calibrate", str(data), "--detections", "det_rrc", "--classes", "car", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--plot", str(plots)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("# Written by `track calibrate")
    car = yaml.safe_load(text)["tracker"]["per_class"]["car"]
    assert car["score_map"]["method"] == "isotonic" and len(car["score_map"]["raw"]) >= 4
    config = load_config(out)  # the written file is a valid config
    assert config.tracker.frame_rate == 10.0
    assert config.tracker.for_class("car").score_map(np.array([0.825]))[0] == pytest.approx(0.9, abs=0.05)
    assert (plots / "det_rrc_car.png").stat().st_size > 1000


def test_calibrate_refuses_to_write_over_an_input(tmp_path):
    data = known_precision_kitti(tmp_path / "kitti")
    target = data / "label_02" / "0000.txt"
    before = target.read_text()
    result = CliRunner().invoke(
        main, ["calibrate", str(data), "--detections", "det_rrc", "--out", str(target)]
    )
    assert result.exit_code == 2 and target.read_text() == before
