import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, SHARED_KITTI, kitti_label_line, pointrcnn_line
from tracker.cli import main
from tracker.config import ConfigError, load_config
from tracker.eval.calibrate import box_bias
from tracker.eval.datasets import load_kitti
from tracker.structures import Detections
from tracker.tracks import Tracker


def test_rescaled_keeps_the_centre():
    dets = Detections(np.array([[10, 20, 30, 60]], np.float32), np.array([0.9], np.float32), np.array([3]))
    out = dets.rescaled(0.5, 1.5)
    np.testing.assert_allclose(out.xyxy, [[15, 10, 25, 70]])
    assert out.score[0] == pytest.approx(0.9) and out.class_id[0] == 3


def test_tracker_applies_the_box_scale_of_the_class_only():
    config = load_config(
        None, ["tracker.per_class.pedestrian.box_scale=[0.5,1.0]", "tracker.lifecycle.min_hits=1"]
    )
    tracker = Tracker(config.tracker, ("car", "pedestrian"))
    dets = Detections(
        np.array([[0, 0, 40, 80], [100, 0, 140, 80]], np.float32),
        np.array([0.9, 0.9], np.float32),
        np.array([0, 1]),
    )
    tracks = tracker.update(dets, 0.0)
    boxes = {int(c): b for c, b in zip(tracks.class_id, tracks.xyxy, strict=True)}
    np.testing.assert_allclose(boxes[0], [0, 0, 40, 80], atol=1e-4)
    np.testing.assert_allclose(boxes[1], [110, 0, 130, 80], atol=1e-4)


@pytest.mark.parametrize("value", ["[0.5]", "[0.0,1.0]", "[1.0,20.0]"])
def test_bad_box_scale_is_a_config_error(value):
    with pytest.raises(ConfigError, match="box_scale"):
        load_config(None, [f"tracker.box_scale={value}"])


def widened_pedestrians(root, factor: float, sequences=("0000", "0001")):
    (root / "label_02").mkdir(parents=True)
    for cls in ("car", "pedestrian", "cyclist"):
        (root / "det_pointrcnn" / cls).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for seq in sequences:
        labels, dets = [], []
        for f in range(20):
            x, y = 100 + 10 * f, 150 + rng.uniform(-5, 5)
            true = (x, y, x + 30, y + 80)
            cx = x + 15
            labels.append(kitti_label_line(f, 1, "Pedestrian", true))
            dets.append(pointrcnn_line(f, 1, (cx - 15 * factor, y, cx + 15 * factor, y + 80), 3.0))
        (root / "label_02" / f"{seq}.txt").write_text("".join(labels))
        (root / "det_pointrcnn" / "pedestrian" / f"{seq}.txt").write_text("".join(dets))
        (root / "det_pointrcnn" / "car" / f"{seq}.txt").write_text("")
        (root / "det_pointrcnn" / "cyclist" / f"{seq}.txt").write_text("")
    (root / "seqmap.txt").write_text("".join(f"{s} empty 000000 000020\n" for s in sequences))
    return root


def test_box_bias_measures_a_known_widening(tmp_path):
    root = widened_pedestrians(tmp_path / "kitti", 1.5)
    (bias,) = box_bias(load_kitti(root), ("pedestrian",))
    assert bias.pairs == 40
    assert bias.log_width == pytest.approx(np.log(1.5), abs=1e-3)
    assert bias.log_height == pytest.approx(0.0, abs=1e-3)
    assert bias.box_scale == (0.65, 1.0)
    assert bias.consistent(0) and not bias.consistent(1)
    assert set(bias.per_sequence) == {"0000", "0001"}


def test_calibrate_command_prints_the_correction(tmp_path):
    root = widened_pedestrians(tmp_path / "kitti", 1.5)
    result = CliRunner().invoke(main, ["calibrate", str(root), "--classes", "pedestrian"])
    assert result.exit_code == 0, result.output
    assert "tracker.per_class.pedestrian.box_scale: [0.65, 1.0]" in result.output


@pytest.mark.skipif(
    not (SHARED_KITTI / "seqmap.txt").is_file(), reason=f"KITTI dev split not found at {SHARED_KITTI}"
)
def test_pointrcnn_pedestrians_are_too_wide_on_every_dev_sequence_and_kitti_yaml_undoes_it():
    car, ped = box_bias(load_kitti(SHARED_KITTI), ("car", "pedestrian"))
    assert not car.consistent(0) and not car.consistent(1)
    assert ped.consistent(0) and all(lw > 0.15 for _, lw, _ in ped.per_sequence.values())
    shipped = load_config(ROOT / "configs" / "kitti.yaml").tracker.for_class("pedestrian").box_scale
    assert shipped == ped.box_scale


def test_box_bias_on_a_mot_folder_counts_unlabelled_detections(tmp_path):
    from tracker.eval.datasets import load_mot

    seq = tmp_path / "mot" / "SEQ-01"
    (seq / "det").mkdir(parents=True)
    (seq / "gt").mkdir()
    det_lines, gt_lines = [], []
    for f in range(1, 21):
        x = 50 + 5 * f
        gt_lines.append(f"{f},1,{x},100,40,80,1,1,1.0\n")
        det_lines.append(f"{f},-1,{x},{100 - 8},40,96,0.9\n")  # 1.2x too tall, same width
    (seq / "det" / "det.txt").write_text("".join(det_lines))
    (seq / "gt" / "gt.txt").write_text("".join(gt_lines))
    (bias,) = box_bias(load_mot(tmp_path / "mot"), ("pedestrian",))
    assert bias.pairs == 20
    assert bias.log_width == pytest.approx(0.0, abs=1e-6)
    assert bias.log_height == pytest.approx(np.log(1.2), abs=1e-4)
