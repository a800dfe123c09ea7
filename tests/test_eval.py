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


def make_mot_dataset(root, num_frames=20):
    seq = root / "synth-01"
    (seq / "det").mkdir(parents=True)
    (seq / "gt").mkdir(parents=True)
    det, gt = [], []
    for f in range(1, num_frames + 1):
        for i, (x, y) in enumerate([(50 + 5 * f, 80), (400 - 4 * f, 200)]):
            det.append(f"{f},-1,{x},{y},40,90,0.95,-1,-1,-1\n")
            gt.append(f"{f},{i + 1},{x},{y},40,90,1,1,1.0\n")
    (seq / "det" / "det.txt").write_text("".join(det))
    (seq / "gt" / "gt.txt").write_text("".join(gt))
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname=synth-01\nframeRate=25\nseqLength={num_frames}\n")
    return root


def test_mot_dataset_evaluates_with_motchallenge(tmp_path):
    from tracker.eval.datasets import load_mot

    dataset = load_mot(make_mot_dataset(tmp_path / "mot"))
    assert dataset.sequences[0].fps == 25.0 and len(dataset.sequences[0].frames) == 20
    config = load_config(None, ["tracker.lifecycle.min_hits=1"])
    run_dataset(dataset, config.tracker, tmp_path / "res")
    assert (tmp_path / "res" / "synth-01.txt").read_text().startswith("1,")
    m = dataset.evaluate(tmp_path / "res")["COMBINED"]["pedestrian"]
    assert m.HOTA > 99.0 and m.IDSW == 0 and m.MOTA == pytest.approx(100.0)
