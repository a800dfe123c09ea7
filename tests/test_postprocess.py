import numpy as np

from tracker import Tracks
from tracker.postprocess import interpolate_gaps


def one(track_id, x):
    return Tracks(
        np.array([track_id]),
        np.array([[x, 0, x + 10, 10]], np.float32),
        np.array([0.9], np.float32),
        np.array([0]),
        np.array([1], np.int8),
    )


def test_fills_short_gaps_linearly_and_leaves_long_ones():
    frames = [
        one(1, 0),
        Tracks.empty(),
        Tracks.empty(),
        one(1, 30),  # gap of 2 frames
        Tracks.empty(),
        Tracks.empty(),
        Tracks.empty(),
        Tracks.empty(),
        one(1, 80),
    ]  # gap of 4
    out = interpolate_gaps(frames, max_gap=3)
    assert [len(t) for t in out] == [1, 1, 1, 1, 0, 0, 0, 0, 1]
    np.testing.assert_allclose(out[1].xyxy[0], [10, 0, 20, 10])
    np.testing.assert_allclose(out[2].xyxy[0], [20, 0, 30, 10])
    assert interpolate_gaps(frames, 0) is frames


def test_gaps_are_per_track():
    frames = [Tracks.concatenate([one(1, 0), one(2, 100)]), one(2, 110), one(1, 20)]
    out = interpolate_gaps(frames, max_gap=5)
    assert sorted(out[1].id.tolist()) == [1, 2]
    np.testing.assert_allclose(out[1].xyxy[out[1].id == 1][0], [10, 0, 20, 10])
