"""Real KITTI files: every label type (``Person`` included), detection folders in either layout
(PointRCNN's 15 columns, ``frame,x1,y1,x2,y2,score``), ``track detect``'s files, empty files."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import kitti_label_line, pointrcnn_line, two_cars
from tracker.cli import main
from tracker.eval.datasets import load_kitti
from tracker.formats import KITTI_CLASSES, FormatError, read_kitti_labels, read_pointrcnn

# The KITTI devkit's object types, and ``Person``, which real tracking labels also use.
DEVKIT_TYPES = ["Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc", "Person"]


def test_every_kitti_type_is_read(tmp_path):
    path = tmp_path / "0013.txt"
    lines = [kitti_label_line(0, i, kind, (10 + i, 10, 50 + i, 90)) for i, kind in enumerate(DEVKIT_TYPES)]
    lines.append("0 -1 DontCare -1 -1 -10 1 2 30 40 -1000 -1000 -1000 -10 -1 -1 -1\n")
    path.write_text("".join(lines))
    table = read_kitti_labels(path)
    names = [KITTI_CLASSES[c] for c in table.class_id[~table.ignore]]
    assert names == [k.lower() for k in DEVKIT_TYPES]
    assert table.ignore.tolist() == [False] * len(DEVKIT_TYPES) + [True]
    # Class ids of the older types did not move when Person was added.
    assert KITTI_CLASSES.index("car") == 0 and KITTI_CLASSES.index("pedestrian") == 3


def person_kitti(root):
    """Two sequences: cars tracked by RRC-layout detections, and in 0013 a labelled ``Person``
    (a person sitting) in a real KITTI line taken from sequence 0013 of the training set."""
    (root / "label_02").mkdir(parents=True)
    for cls in ("car", "pedestrian"):
        (root / "det_rrc" / cls).mkdir(parents=True)
    seqmap = []
    for seq in ("0000", "0013"):
        labels, dets = [], []
        for f, boxes in two_cars().items():
            for i, box in enumerate(boxes):
                labels.append(kitti_label_line(f, i, "Car", box))
                dets.append("{},{:.2f},{:.2f},{:.2f},{:.2f},0.95\n".format(f, *box))
            if seq == "0013":
                box = "520.11 160.87 553.33 245.34"
                labels.append(f"{f} 7 Person 0 0 -1.05 {box} 1.63 0.61 0.80 2.12 1.61 15.11 -0.91\n")
        (root / "label_02" / f"{seq}.txt").write_text("".join(labels))
        (root / "det_rrc" / "car" / f"{seq}.txt").write_text("".join(dets))
        (root / "det_rrc" / "pedestrian" / f"{seq}.txt").write_text("")  # empty files are normal
        seqmap.append(f"{seq} empty 000000 000030\n")
    (root / "seqmap.txt").write_text("".join(seqmap))
    return root


def test_eval_and_eval_motion_run_on_labels_with_person(tmp_path):
    data = person_kitti(tmp_path / "kitti")
    out = tmp_path / "metrics.json"
    args = ["eval", str(data), "--format", "kitti", "--detections", "det_rrc", "--config", "default"]
    result = CliRunner().invoke(main, [*args, "--results-out", str(tmp_path / "res"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["car"]["HOTA"] > 95  # perfect detections, tracked
    motion = tmp_path / "motion.json"
    result = CliRunner().invoke(main, ["eval-motion", str(data), "--horizons", "1,5", "--json", str(motion)])
    assert result.exit_code == 0, result.output
    scores = json.loads(motion.read_text())
    # The Person track (in 0013 only, 30 frames: 26 samples one frame ahead) is a pedestrian.
    assert scores["kalman"]["1"]["per_class"]["pedestrian"]["samples"] == 26


def test_rrc_layout_takes_the_class_from_the_folder(tmp_path):
    data = person_kitti(tmp_path / "kitti")
    (data / "det_rrc" / "pedestrian" / "0000.txt").write_text("3,10,20,30,80,0.4\n")
    for det_format in ("auto", "rrc"):
        dataset = load_kitti(data, "det_rrc", det_format=det_format)
        frame3 = dataset.sequences[0].frames[3]
        names = sorted(KITTI_CLASSES[c] for c in frame3.class_id)
        assert names == ["car", "car", "pedestrian"]
        ped = frame3[frame3.class_id == KITTI_CLASSES.index("pedestrian")]
        np.testing.assert_allclose(ped.xyxy, [[10, 20, 30, 80]])
        assert ped.score[0] == pytest.approx(0.4)  # as the detector wrote it


def test_pointrcnn_layout_keeps_raw_scores(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text(pointrcnn_line(0, 2, (1, 2, 30, 40), -1.5) + pointrcnn_line(1, 1, (1, 2, 30, 40), 7.0))
    table = read_pointrcnn(path)
    np.testing.assert_allclose(table.score, [-1.5, 7.0])  # a score map calibrates them, not the reader
    assert [KITTI_CLASSES[c] for c in table.class_id] == ["car", "pedestrian"]


def test_a_layout_named_explicitly_must_fit_the_files(tmp_path):
    data = person_kitti(tmp_path / "kitti")
    with pytest.raises(FormatError, match=r"car/0000\.txt:1: expected 15 columns"):
        load_kitti(data, "det_rrc", det_format="pointrcnn")


def test_pointrcnn_rows_of_another_class_in_a_class_folder_are_an_error(tmp_path):
    data = person_kitti(tmp_path / "kitti")
    (data / "det_rrc" / "pedestrian" / "0000.txt").write_text(pointrcnn_line(0, 2, (1, 2, 30, 40), 3.0))
    with pytest.raises(FormatError, match="a car detection in the pedestrian folder"):
        load_kitti(data, "det_rrc")


def test_unknown_column_count_names_file_and_line(tmp_path):
    data = person_kitti(tmp_path / "kitti")
    (data / "det_rrc" / "car" / "0000.txt").write_text("0,1,2,3\n")
    with pytest.raises(FormatError, match=r"car/0000\.txt:1: 4 comma-separated columns: neither PointRCNN"):
        load_kitti(data, "det_rrc")


def test_empty_detection_files_everywhere(tmp_path):
    data = person_kitti(tmp_path / "kitti")
    for path in (data / "det_rrc").rglob("*.txt"):
        path.write_text("")
    dataset = load_kitti(data, "det_rrc")
    assert [len(s.frames) for s in dataset.sequences] == [30, 30]
    assert sum(len(d) for s in dataset.sequences for d in s.frames) == 0
    result = CliRunner().invoke(
        main, ["eval", str(data), "--detections", "det_rrc", "--results-out", str(tmp_path / "res")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "res" / "0000.txt").read_text() == ""


def test_mot_det_lines_in_class_folders(tmp_path):
    data = person_kitti(tmp_path / "kitti")
    # track detect's MOT det layout: 1-based frames, left, top, width, height.
    (data / "det_rrc" / "pedestrian" / "0000.txt").write_text("4,-1,10,20,20,60,0.7,-1,-1,-1\n")
    dataset = load_kitti(data, "det_rrc")
    frame = dataset.sequences[0].frames[3]
    ped = frame[frame.class_id == KITTI_CLASSES.index("pedestrian")]
    np.testing.assert_allclose(ped.xyxy, [[10, 20, 30, 80]])


def test_track_detect_jsonl_per_sequence(tmp_path):
    data = person_kitti(tmp_path / "kitti")
    det = data / "det_yolox"
    det.mkdir()
    for seq in ("0000", "0013"):
        records = [
            {"frame": f, "time_s": f / 10, "class": "car", "score": 0.9, "xyxy": list(box)}
            for f, boxes in two_cars().items()
            for box in boxes
        ]
        records.append({"frame": 2, "time_s": 0.2, "class": "person", "score": 0.8, "xyxy": [5, 5, 25, 70]})
        records.append({"frame": 2, "time_s": 0.2, "class": "kite", "score": 0.8, "xyxy": [5, 5, 25, 70]})
        (det / f"{seq}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    dataset = load_kitti(data, "det_yolox")
    names = [KITTI_CLASSES[c] for c in dataset.sequences[0].frames[2].class_id]
    assert sorted(names) == ["car", "car", "pedestrian"]  # COCO person is a pedestrian; kites are not scored
    result = CliRunner().invoke(
        main,
        [
            "eval",
            str(data),
            "--detections",
            "det_yolox",
            "--config",
            "default",
            "--results-out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
