import pytest

from tests.conftest import kitti_label_line, two_cars
from tracker.config import load_config
from tracker.eval.datasets import load_kitti, run_dataset
from tracker.eval.metrics import evaluate_kitti


def write_results(path, id_of):
    lines = []
    for f, boxes in two_cars().items():
        for i, box in enumerate(boxes):
            lines.append(kitti_label_line(f, id_of(f, i), "Car", box).rstrip("\n") + " 1.0\n")
    path.write_text("".join(lines))


def test_perfect_tracks_score_100(tiny_kitti, tmp_path):
    write_results(tmp_path / "0000.txt", lambda f, i: i)
    m = evaluate_kitti(tiny_kitti, tmp_path, [("0000", 30)], ("car",))["COMBINED"]["car"]
    assert m.HOTA == pytest.approx(100.0) and m.MOTA == pytest.approx(100.0)
    assert m.IDF1 == pytest.approx(100.0) and m.IDSW == 0


def test_one_id_switch_counts_once(tiny_kitti, tmp_path):
    write_results(tmp_path / "0000.txt", lambda f, i: i if (i == 1 or f < 15) else 7)
    m = evaluate_kitti(tiny_kitti, tmp_path, [("0000", 30)], ("car",))["COMBINED"]["car"]
    assert m.IDSW == 1
    assert m.DetA == pytest.approx(100.0) and m.AssA < 100.0


def test_tracker_on_perfect_detections(tiny_kitti, tmp_path):
    dataset = load_kitti(tiny_kitti)
    config = load_config(None, ["tracker.lifecycle.min_hits=1"])
    run_dataset(dataset, config.tracker, tmp_path / "res")
    m = dataset.evaluate(tmp_path / "res")["COMBINED"]["car"]
    assert m.HOTA > 99.0 and m.IDSW == 0


def test_missing_dataset_parts(tmp_path, tiny_kitti):
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        load_kitti(tmp_path / "nope")
    (tiny_kitti / "seqmap.txt").unlink()
    with pytest.raises(FileNotFoundError, match="seqmap not found"):
        load_kitti(tiny_kitti)
