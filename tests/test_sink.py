"""Outputs: the H.264 writer (timestamps, rates, colour, encoder settings, abort) and track files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import ROOT
from tracker.config import load_config
from tracker.formats import read_mot
from tracker.sink import TrackWriter, VideoWriter, frame_rate_fraction
from tracker.source import open_source

SHARED = ROOT.parent / "shared"
YOLOX = SHARED / "models" / "yolox_nano.onnx"
HIGHWAY = SHARED / "data" / "real" / "highway_720p.mp4"


def test_video_round_trip_h264_timestamps(clip):
    video, gt = clip
    source = open_source(video)
    frames = list(source)
    assert len(frames) == 40 and source.fps == pytest.approx(10.0)
    np.testing.assert_allclose([f.time_s for f in frames[:3]], [0.0, 0.1, 0.2], atol=1e-6)
    import av

    with av.open(str(video)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    assert read_mot(gt, "gt").frame.max() == 39


def test_ntsc_frame_rate_is_exact():
    from fractions import Fraction

    assert frame_rate_fraction(29.97) == frame_rate_fraction(30000 / 1001) == Fraction(30000, 1001)
    with pytest.raises(ValueError):
        frame_rate_fraction(float("nan"))


def test_i420_conversion_averages_chroma_like_swscale():
    import av

    from tracker.sink import bgr_to_i420

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    ours = bgr_to_i420(image)
    theirs = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
    ref = np.concatenate([np.frombuffer(bytes(p), np.uint8) for p in theirs.planes])
    assert ours.shape == (72, 64)
    difference = np.abs(ours.ravel().astype(int) - ref.astype(int))
    assert difference.max() <= 2 and difference.mean() < 1  # rounding only
    edge = np.full((48, 64, 3), 128, np.uint8)
    edge[:, 21:] = (40, 60, 230)  # red from an odd column: chroma pair (20, 21) is half red
    v = bgr_to_i420(edge)[60:72].reshape(24, 32)
    assert v[5, 9] < v[5, 10] < v[5, 11]  # grey, the mixed pair, red (taking one pixel: equal)


def test_writer_abort_leaves_nothing(tmp_path):
    writer = VideoWriter(tmp_path / "a.mp4", 25)
    writer.write(np.zeros((241, 321, 3), np.uint8))  # odd sizes are padded
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_track_writers(tmp_path):
    from tracker import Tracks

    tracks = Tracks(
        np.array([4]),
        np.array([[1, 2, 30, 40]], np.float32),
        np.array([0.9], np.float32),
        np.array([0]),
        np.array([1], np.int8),
    )
    for name, fmt in (("t.txt", "mot"), ("t.jsonl", "jsonl"), ("k.txt", "kitti")):
        writer = TrackWriter(tmp_path / name, fmt, ("car",))
        writer.write(0, 0.5, tracks)
        writer.close()
    record = json.loads((tmp_path / "t.jsonl").read_text())
    assert record == {
        "frame": 0,
        "time_s": 0.5,
        "id": 4,
        "class": "car",
        "score": 0.9,
        "xyxy": [1.0, 2.0, 30.0, 40.0],
    }
    assert (tmp_path / "t.txt").read_text().startswith("1,4,1.00,2.00,29.00,38.00")
    assert (tmp_path / "k.txt").read_text().split()[2] == "Car"


def test_zerolatency_writer_muxes_each_frame_as_it_is_written(tmp_path):
    class Recording:
        """Stands in for the output container: records the times of the packets muxed."""

        def __init__(self, container):
            self.container, self.times = container, []

        def mux(self, packet):
            self.times.append(round(float(packet.pts * packet.time_base), 3))
            self.container.mux(packet)

        def close(self):
            self.container.close()

    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(3)]
    for tune, muxed in (("zerolatency", [0.1, 0.2]), ("", [0.0, 0.1])):
        writer = VideoWriter(tmp_path / f"{tune or 'none'}.mp4", 10, threads=1, preset="ultrafast", tune=tune)
        writer.write(frames[0])
        writer._container = Recording(writer._container)
        for image in frames[1:]:
            writer.write(image)
        assert writer._container.times == muxed, "with zerolatency no frame is held back"
        writer.close()
        assert len(list(open_source(writer.final_path))) == 3
    from tracker.sink import video_writer

    for setting, tune in (
        ("none", ""),
        ("zerolatency", "zerolatency"),
        ("film,fastdecode", "film,fastdecode"),
    ):
        pipeline = load_config(None, [f"encoder.tune={setting}"]).encoder
        assert video_writer(tmp_path / "x.mp4", 10, pipeline).tune == tune
