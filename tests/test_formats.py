import numpy as np
import pytest

from tests.conftest import pointrcnn_line
from tracker import Tracks
from tracker.formats import (
    KITTI_CLASSES,
    FormatError,
    format_kitti_tracks,
    format_mot_tracks,
    read_kitti_labels,
    read_mot,
    read_pointrcnn,
    read_seqmap,
)


def sample_tracks():
    return Tracks(
        id=np.array([3, 8]),
        xyxy=np.array([[10, 20, 110, 220], [300.5, 40.25, 350, 90]], np.float32),
        score=np.array([0.9, 0.5], np.float32),
        class_id=np.array([KITTI_CLASSES.index("car"), KITTI_CLASSES.index("pedestrian")]),
        state=np.ones(2, np.int8),
    )


def test_kitti_tracks_round_trip(tmp_path):
    path = tmp_path / "0000.txt"
    tracks = sample_tracks()
    path.write_text("".join(format_kitti_tracks(4, tracks, KITTI_CLASSES)))
    table = read_kitti_labels(path)
    assert table.frame.tolist() == [4, 4] and table.track_id.tolist() == [3, 8]
    np.testing.assert_allclose(table.xyxy, tracks.xyxy, atol=0.01)
    np.testing.assert_allclose(table.score, tracks.score, atol=1e-4)
    assert [KITTI_CLASSES[c] for c in table.class_id] == ["car", "pedestrian"]
    assert path.read_text().split()[2] == "Car"


def test_mot_tracks_round_trip(tmp_path):
    path = tmp_path / "res.txt"
    tracks = sample_tracks()
    path.write_text("".join(format_mot_tracks(0, tracks)))
    table = read_mot(path, "results")
    assert table.frame.tolist() == [0, 0]  # written 1-based, read back 0-based
    assert path.read_text().startswith("1,3,")
    np.testing.assert_allclose(table.xyxy, tracks.xyxy, atol=0.01)


def test_kitti_labels_dontcare_and_ignore(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text(
        "0 -1 DontCare -1 -1 -10 1 2 30 40 -1000 -1000 -1000 -10 -1 -1 -1\n"
        "0 0 Van 0 0 -1.7 296.7 161.7 455.2 292.3 2.0 1.8 4.4 -4.5 1.8 13.4 -2.1\n"
    )
    table = read_kitti_labels(path)
    assert table.ignore.tolist() == [True, False]
    assert KITTI_CLASSES[table.class_id[1]] == "van"


@pytest.mark.parametrize(
    "line,message",
    [
        ("0,2,1,2,30,40,5.0\n", r"expected 15 columns \(PointRCNN\), got 7"),
        ("0,2,1,2,30,40,nan,1,1,1,0,0,0,0,0\n", "score is not finite"),
        ("0,2,30,2,1,40,5.0,1,1,1,0,0,0,0,0\n", "negative size"),
        ("x,2,1,2,30,40,5.0,1,1,1,0,0,0,0,0\n", "frame is not a number"),
        ("0,9,1,2,30,40,5.0,1,1,1,0,0,0,0,0\n", "unknown type id 9"),
    ],
)
def test_bad_detection_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "d.txt"
    path.write_text(pointrcnn_line(0, 2, (1, 2, 30, 40), 1.0) + line)
    with pytest.raises(FormatError, match=rf"d\.txt:2: .*{message}"):
        read_pointrcnn(path)


@pytest.mark.parametrize(
    "text,message",
    [
        ("0 1 Car 0 0 -10 1 2 30\n", "expected at least 17 columns"),
        ("0 1 Plane 0 0 -10 1 2 30 40 1 1 1 0 0 0 0\n", "unknown KITTI type"),
        ("0 1 Car 0 0 -10 1 2 30 inf 1 1 1 0 0 0 0\n", "not finite"),
    ],
)
def test_bad_label_lines(tmp_path, text, message):
    path = tmp_path / "l.txt"
    path.write_text(text)
    with pytest.raises(FormatError, match=rf"l\.txt:1: .*{message}"):
        read_kitti_labels(path)


def test_mot_gt_flags_and_bad_frame(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,1,10,10,20,40,1,1,1\n2,1,12,10,20,40,0,1,0.1\n")
    table = read_mot(path, "gt")
    assert table.ignore.tolist() == [False, True]
    path.write_text("0,1,10,10,20,40,1,1,1\n")
    with pytest.raises(FormatError, match="MOT frames start at 1"):
        read_mot(path, "gt")


def test_seqmap(tmp_path):
    path = tmp_path / "seqmap.txt"
    path.write_text("0000 empty 000000 000154\n0002 empty 000000 000233\n")
    assert read_seqmap(path) == [("0000", 154), ("0002", 233)]
    path.write_text("0000 154\n")
    with pytest.raises(FormatError, match="seqmap.txt:1"):
        read_seqmap(path)
