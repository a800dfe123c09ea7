"""The renderer: boxes, labels, trails and paths, drawn on a copy."""

from __future__ import annotations

import numpy as np

from tests.conftest import ROOT
from tracker.config import load_config
from tracker.render import Renderer

SHARED = ROOT.parent / "shared"
YOLOX = SHARED / "models" / "yolox_nano.onnx"
HIGHWAY = SHARED / "data" / "real" / "highway_720p.mp4"


def test_renderer_draws_on_a_copy():
    from tracker import Tracks, TrackState
    from tracker.structures import Trails

    image = np.zeros((100, 200, 3), np.uint8)
    tracks = Tracks(
        np.array([3]),
        np.array([[10, 20, 60, 80]], np.float32),
        np.array([0.9], np.float32),
        np.array([0]),
        np.array([TrackState.CONFIRMED], np.int8),
    )
    trails = Trails(np.array([[[0, 10, 20, 30], [5, 15, 25, 35], [0, 0, 0, 0]]], np.float32), np.array([2]))
    out = Renderer(load_config().render, ("car",)).annotate(
        image, tracks, trails, {3: np.array([[35, 50], [60, 50], [80, 50]])}
    )
    assert image.sum() == 0 and out.sum() > 0
    assert out[80, 35].any() and not out[95, 195].any()
    assert out[15, 10].any(), "the trail joins the centres of the recorded boxes"


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_of_boxes_whose_corners_meet_do_not_cover_each_other():
    from tracker.render import place_labels

    # Three cars in a row of traffic: top-left corners a few pixels apart (the urban clip).
    boxes = [(100, 100, 200, 180), (104, 102, 190, 170), (108, 98, 260, 200)]
    sizes = [(90, 18)] * 3
    corners = place_labels(sizes, boxes, (374, 1242))
    rects = [(x, y, x + w, y + h) for (x, y), (w, h) in zip(corners, sizes, strict=True)]
    assert not any(_overlap(rects[i], rects[j]) for i in range(3) for j in range(i))
    assert corners[0] == (100, 82)  # the first label sits above its box, as before


def test_labels_stay_inside_the_image():
    from tracker.render import place_labels

    corners = place_labels([(90, 18), (90, 18)], [(1200, 0, 1240, 40), (-20, 360, 30, 373)], (374, 1242))
    assert all(0 <= x <= 1242 - 90 and 0 <= y <= 374 - 18 for x, y in corners)
