import numpy as np
import pytest

from tracker import Detections, Tracks, TrackState


def test_detections_validate_shapes_with_expected_and_actual():
    with pytest.raises(ValueError, match=r"xyxy: expected shape \(N, 4\), got \(3, 3\)"):
        Detections(np.zeros((3, 3)), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"score: expected shape \(2,\) to match xyxy, got \(3,\)"):
        Detections(np.zeros((2, 4)), np.zeros(3), np.zeros(2))


def test_detections_dtypes_and_mask_indexing():
    dets = Detections([[0, 0, 10, 10], [5, 5, 20, 30]], [0.9, 0.2], [2, 0])
    assert dets.xyxy.dtype == np.float32 and dets.score.dtype == np.float32
    assert dets.class_id.dtype == np.int64
    strong = dets[dets.score > 0.5]
    assert len(strong) == 1 and strong.class_id[0] == 2


def test_valid_mask_drops_nan_infinite_and_empty_boxes():
    dets = Detections(
        [[0, 0, 10, 10], [np.nan, 0, 1, 1], [0, 0, np.inf, 1], [5, 5, 5, 9], [5, 5, 4, 9]],
        [0.9, 0.9, 0.9, 0.9, 0.9],
        [0, 0, 0, 0, 0],
    )
    assert dets.valid_mask().tolist() == [True, False, False, False, False]


def test_tracks_iterate_as_objects():
    tracks = Tracks(
        np.array([7]),
        np.array([[1, 2, 3, 4]], np.float32),
        np.array([0.5], np.float32),
        np.array([2]),
        np.array([1], np.int8),
    )
    (track,) = list(tracks)
    assert track.id == 7 and track.state is TrackState.CONFIRMED
    assert Tracks.concatenate([Tracks.empty(), tracks]) is tracks
