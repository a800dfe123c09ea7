"""Frame sources: containers and codecs, frame rates, image folders."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import ROOT
from tracker.source import open_source

SHARED = ROOT.parent / "shared"
YOLOX = SHARED / "models" / "yolox_nano.onnx"
HIGHWAY = SHARED / "data" / "real" / "highway_720p.mp4"


@pytest.mark.parametrize(
    ("name", "container", "codec"),
    [
        ("a.mp4", "mp4", "libx264"),
        ("a.mkv", "matroska", "libx264"),
        ("a.mov", "mov", "libx264"),
        ("a.avi", "avi", "mpeg4"),
        # No header to read the rate from: the quick probe must fall back to a full one.
        ("a.ts", "mpegts", "libx264"),
    ],
)
def test_containers_give_every_frame_and_the_stream_rate(tmp_path, name, container, codec):
    from fractions import Fraction

    import av

    path = tmp_path / name
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=Fraction(15))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            image = np.full((48, 64, 3), i * 10, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    source = open_source(path)
    frames = list(source)
    assert source.fps == pytest.approx(15.0)
    assert [f.index for f in frames] == list(range(20))
    np.testing.assert_allclose(np.diff([f.time_s for f in frames]), 1 / 15, atol=1e-3)
    assert frames[0].image.shape == (48, 64, 3)


def test_image_folder_uses_the_given_rate(tmp_path):
    import cv2

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    source = open_source(tmp_path, default_fps=5.0)
    assert [f.time_s for f in source] == [0.0, 0.2, 0.4]
    assert [f.index for f in open_source(str(tmp_path / "*.png"), fps=2.0)] == [0, 1, 2]
