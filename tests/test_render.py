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
