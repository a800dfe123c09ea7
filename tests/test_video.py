"""Video side: synthetic generator, sources, writers, renderer, detectors, pipeline, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from tracker import Detections
from tracker.cli import main
from tracker.config import load_config
from tracker.eval.synthetic import SynthConfig, SyntheticVideo, write_synthetic
from tracker.formats import read_mot
from tracker.pipeline import Pipeline
from tracker.render import Renderer
from tracker.sink import TrackWriter, VideoWriter, frame_rate_fraction
from tracker.source import Frame, open_source
from tracker.stages import detector_batch_size

SHARED = ROOT.parent / "shared"
YOLOX = SHARED / "models" / "yolox_nano.onnx"
HIGHWAY = SHARED / "data" / "real" / "highway_720p.mp4"


class TruthDetector:
    """A fake detector that reports the generator's ground truth (visible boxes)."""

    class_names = ("object",)

    def __init__(self, gt_path: Path) -> None:
        table = read_mot(gt_path, "gt")
        self.frames = table.per_frame()

    def detect(self, frames):
        out = []
        for f in frames:
            d = self.frames[f.index] if f.index < len(self.frames) else Detections.empty()
            out.append(Detections(d.xyxy, np.full(len(d), 0.9), np.zeros(len(d), int)))
        return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("clip")
    video, gt = folder / "clip.mp4", folder / "clip_gt.txt"
    write_synthetic(SynthConfig(width=320, height=240, fps=10, num_frames=40, seed=3), video, gt)
    return video, gt


def test_generator_follows_the_spec():
    config = SynthConfig(width=480, height=272, fps=12, num_frames=60, seed=11)
    frames = list(SyntheticVideo(config).frames())
    assert len(frames) == 60
    image, _ = frames[0]
    assert image.shape == (272, 480, 3) and image.dtype == np.uint8
    ids = set()
    for _, truth in frames:
        ids.update(truth.ids.tolist())
        assert ((truth.xyxy[:, 2:] - truth.xyxy[:, :2]) > 0).all()
        assert (truth.xyxy[:, [0, 2]] <= 480).all() and (truth.xyxy[:, [1, 3]] <= 272).all()
        assert ((truth.visibility >= 0) & (truth.visibility <= 1)).all()
    assert len(ids) >= 2
    again = [t.ids.tolist() for _, t in SyntheticVideo(config).frames()]
    assert again == [t.ids.tolist() for _, t in frames], "same seed, same video"
    with pytest.raises(ValueError, match="frame size"):
        SyntheticVideo(SynthConfig(width=100, height=100))


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


def test_pipeline_api_with_a_fake_camera(clip):
    video, gt = clip
    frames = list(open_source(video))

    def camera():  # any iterator of frames works, like a camera that yields images
        for f in frames:
            yield f.image

    with Pipeline(load_config(None, ["tracker.lifecycle.min_hits=1"]), TruthDetector(gt)) as pipe:
        results = list(pipe.stream(camera(), fps=10))
    assert len(results) == 40
    assert results[5].timestamp == pytest.approx(0.5)
    assert sum(len(r.tracks) for r in results) > 0


class CountingFrames:
    """The frames of a source, counting those read so far."""

    def __init__(self, source) -> None:
        self.source, self.read = source, 0

    def __iter__(self):
        for frame in self.source:
            self.read += 1
            yield frame


class BatchRecorder(TruthDetector):
    """Records the size of each batch it is given, and returns only once the decoder has read
    a batch and one more frame past it, so that the frames a batch could take are waiting in
    the queue whatever the machine's load."""

    def __init__(self, gt_path: Path, runs_batches: bool, frames: CountingFrames) -> None:
        super().__init__(gt_path)
        self.runs_batches = runs_batches
        self.source = frames
        self.sizes: list[int] = []

    def detect(self, frames):
        self.sizes.append(len(frames))
        wanted = min(frames[-1].index + 1 + 4 + 1, 40)
        deadline = time.monotonic() + 10
        while self.source.read < wanted and time.monotonic() < deadline:
            time.sleep(0.001)
        return super().detect(frames)


def test_frames_go_one_at_a_time_to_detectors_that_do_not_batch(clip):
    video, gt = clip
    config = load_config(None, ["run.batch_size=4"])
    assert detector_batch_size(TruthDetector(gt), config.run) == 4  # no attribute: batches
    for runs_batches in (False, True):
        frames = CountingFrames(open_source(video))
        detector = BatchRecorder(gt, runs_batches, frames)
        with Pipeline(config, detector) as pipe:
            assert len(list(pipe.stream(frames, fps=10))) == 40
        assert sum(detector.sizes) == 40
        assert max(detector.sizes) == (4 if runs_batches else 1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux only")
def test_decoding_and_encoding_threads_are_made_nicer(clip, tmp_path, monkeypatch):
    import os
    import threading

    import tracker.threads

    def nice_of_this_thread() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    seen = {}
    real = tracker.threads.lower_thread_priority

    def recording(increment):
        before = nice_of_this_thread()
        real(increment)
        seen[threading.current_thread().name] = (before, nice_of_this_thread())

    monkeypatch.setattr(tracker.threads, "lower_thread_priority", recording)
    video, gt = clip
    with Pipeline(load_config(None, ["run.codec_thread_nice=3"]), TruthDetector(gt)) as pipe:
        pipe.run(video, tmp_path / "out.mp4")
    assert set(seen) == {"decode", "encode"}
    for before, after in seen.values():
        assert after == min(19, before + 3)
    assert nice_of_this_thread() == seen["decode"][0], "the caller's thread keeps its priority"


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs per-thread CPU affinity (Linux) and at least 2 cores",
)
def test_codec_threads_keep_off_a_cpu_detectors_cores(clip, tmp_path, monkeypatch):
    import threading

    import tracker.threads

    video, gt = clip
    allowed = set(os.sched_getaffinity(0))
    seen: dict[str, set[int]] = {}

    class CpuDetector(TruthDetector):
        cpu_threads = 1  # keeps one core busy

        def detect(self, frames):
            seen["detect"] = os.sched_getaffinity(0)
            return super().detect(frames)

    real = tracker.threads.keep_thread_on

    def recording(cpus):
        real(cpus)
        seen[threading.current_thread().name] = os.sched_getaffinity(0)

    monkeypatch.setattr(tracker.threads, "keep_thread_on", recording)
    for spare, expected in ((True, set(sorted(allowed)[1:])), (False, allowed)):
        seen.clear()
        config = load_config(None, [f"run.codec_on_spare_cores={str(spare).lower()}"])
        with Pipeline(config, CpuDetector(gt)) as pipe:
            pipe.run(video, tmp_path / "out.mp4")
        assert seen["decode"] == seen["encode"] == expected
        assert seen["detect"] == allowed, "the detector may use every core"
        assert os.sched_getaffinity(0) == allowed, "the caller's thread is left as it was"
    # a detector that keeps no core busy (on a GPU, a file) leaves the codecs to the scheduler
    with Pipeline(load_config(None, []), TruthDetector(gt)) as pipe:
        assert pipe.codec_cpus is None


def test_annotated_video_uses_the_configured_x264_settings(clip, tmp_path):
    video, gt = clip
    for preset, cabac in (("ultrafast", b"cabac=0"), ("medium", b"cabac=1")):
        out = tmp_path / f"{preset}.mp4"
        overrides = [f"encoder.preset={preset}", "encoder.crf=30"]
        with Pipeline(load_config(None, overrides), TruthDetector(gt)) as pipe:
            pipe.run(video, out)
        header = out.read_bytes()[:200_000]  # x264 writes its settings into the stream
        assert cabac in header and b"crf=30.0" in header
        assert len(list(open_source(out))) == 40


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


def test_pipeline_stage_error_before_any_frame_leaves_no_outputs(clip, tmp_path):
    video, gt = clip

    class Failing(TruthDetector):
        def detect(self, frames):
            raise RuntimeError("detector failed")

    with Pipeline(load_config(), Failing(gt)) as pipe, pytest.raises(RuntimeError, match="detector failed"):
        pipe.run(video, tmp_path / "out.mp4", tmp_path / "t.txt")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_finalises_a_playable_video(clip, tmp_path):
    video, gt = clip

    def interrupt(result):
        if result.frame.index == 19:
            raise KeyboardInterrupt

    with Pipeline(load_config(), TruthDetector(gt)) as pipe, pytest.raises(KeyboardInterrupt):
        pipe.run(video, tmp_path / "out.mp4", tmp_path / "t.jsonl", on_frame=interrupt)
    assert len(list(open_source(tmp_path / "out.mp4"))) == 20
    assert (tmp_path / "t.jsonl").exists()


def test_tracking_synthetic_truth_end_to_end_scores_high(clip, tmp_path):
    from tracker.eval.metrics import evaluate_mot

    video, gt = clip
    (tmp_path / "res").mkdir()
    with Pipeline(load_config(None, ["tracker.lifecycle.min_hits=1"]), TruthDetector(gt)) as pipe:
        pipe.run(video, None, tmp_path / "res" / "clip.txt")
    m = evaluate_mot({"clip": gt}, tmp_path / "res", [("clip", 40)])["COMBINED"]["pedestrian"]
    assert m.HOTA > 90


@pytest.mark.skipif(not YOLOX.is_file(), reason=f"shared model not found at {YOLOX}")
def test_onnx_yolox_output_conversion_and_highway(tmp_path):
    from tracker.detect import make_detector

    det = make_detector(f"onnx:{YOLOX}", threads=1)
    assert det.cpu_threads == 1, "on the CPU it says how many cores it keeps busy"
    frames = list(open_source(HIGHWAY))[:3]
    out = det.detect(frames)
    cars = out[0][(out[0].score > 0.5) & (np.array(det.class_names)[out[0].class_id] == "car")]
    assert len(cars) == 2
    assert ((cars.xyxy[:, 1] > 380) & (cars.xyxy[:, 3] < 520)).all()
    # decoding: one anchor at grid (0, 0), stride 8, exp(0) sizes -> an 8x8 box at (4, 4)
    raw = np.zeros((3549, 85), np.float32)
    raw[0, :4] = [0.5, 0.5, 0.0, 0.0]
    raw[0, 4] = 0.9
    raw[0, 5 + 2] = 1.0  # class car
    d = det.decode(raw, scale=0.5, image_hw=(720, 1280))
    np.testing.assert_allclose(d.xyxy, [[0, 0, 16, 16]])
    assert d.class_id.tolist() == [2] and d.score[0] == pytest.approx(0.9)
    # a stride-16 anchor (grid x 1, y 2) counts too; one whose objectness is under the
    # threshold does not, however sure its class is
    first16 = (416 // 8) ** 2
    raw[first16 + 2 * 26 + 1, :5] = [0.0, 0.0, np.log(2.0), 0.0, 0.8]
    raw[first16 + 2 * 26 + 1, 5 + 0] = 0.5  # person
    raw[5, 4], raw[5, 5 + 2] = det.score_threshold / 2, 1.0
    d = det.decode(raw, scale=1.0, image_hw=(720, 1280))
    np.testing.assert_allclose(d.xyxy, [[0, 0, 8, 8], [0, 24, 32, 40]], atol=1e-4)
    assert d.class_id.tolist() == [2, 0]
    np.testing.assert_allclose(d.score, [0.9, 0.4], rtol=1e-6)


@pytest.mark.skipif(
    not (YOLOX.is_file() and HIGHWAY.is_file()), reason="../shared model or highway clip missing"
)
def test_cli_on_real_highway_keeps_two_ids(tmp_path):
    out, tracks = tmp_path / "x.mp4", tmp_path / "t.jsonl"
    result = CliRunner().invoke(
        main, [str(HIGHWAY), "--detector", f"onnx:{YOLOX}", "--out", str(out), "--tracks-out", str(tracks)]
    )
    assert result.exit_code == 0, result.output
    assert len(list(open_source(out))) == 38
    records = [json.loads(line) for line in tracks.read_text().splitlines()]
    assert {r["id"] for r in records} == {1, 2}
    assert {r["class"] for r in records} == {"car"}


def test_torchvision_output_conversion_with_random_weights():
    import torch

    from tracker.detect.torchvision_models import TorchvisionDetector

    det = TorchvisionDetector(
        "ssdlite320_mobilenet_v3_large", device="cpu", weights="none", score_threshold=0.3
    )
    out = det.convert(
        {
            "boxes": torch.tensor([[1.0, 2, 30, 40], [5, 5, 9, 9], [0, 0, 4, 4]]),
            "scores": torch.tensor([0.9, 0.2, 0.8]),
            "labels": torch.tensor([3, 3, 16]),
        }
    )  # car, car below threshold, bird
    assert out.xyxy.tolist() == [[1, 2, 30, 40]] and det.class_names[out.class_id[0]] == "car"
    frame = Frame(0, 0.0, np.zeros((120, 160, 3), np.uint8))
    (dets,) = det.detect([frame])
    assert isinstance(dets, Detections)


def one_error_line(args, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tracker.cli", *map(str, args)], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_bad_inputs_one_line_exit_2_no_output(tmp_path, clip):
    video, gt = clip
    out = tmp_path / "o.mp4"
    det = ["--detector", f"file:{gt}"]
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("hello")
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(video.read_bytes()[:2000])
    (tmp_path / "folder").mkdir()
    cases = [
        ([tmp_path / "missing.mp4", *det, "--out", out], "input not found"),
        ([tmp_path / "folder", *det, "--out", out, "--fps", "10"], "no images"),
        ([empty, *det, "--out", out], "empty"),
        ([not_video, *det, "--out", out], "not a readable video"),
        ([video, "--detector", "yolo9000", "--out", out], "unknown detector"),
        ([video, "--detector", "torchvision:fcos_resnet50_fpn", "--out", out], "--weights FILE"),
        (["9", *det, "--out", out], "cannot open camera 9"),
    ]
    for args, message in cases:
        assert message in one_error_line(args, tmp_path), args
        assert not out.exists()
    # a truncated file: processed to where it breaks, or refused; never a traceback
    proc = subprocess.run(
        [sys.executable, "-m", "tracker.cli", str(truncated), *det, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr


def test_cli_synth_and_run_end_to_end(tmp_path):
    runner = CliRunner()
    video, gt = tmp_path / "s.mp4", tmp_path / "s_gt.txt"
    assert (
        runner.invoke(main, ["synth", str(video), "--gt", str(gt), "--seed", "4", "--frames", "30"]).exit_code
        == 0
    )
    out, tracks = tmp_path / "a.mp4", tmp_path / "a.txt"
    result = runner.invoke(
        main, [str(video), "--detector", f"file:{gt}", "--out", str(out), "--tracks-out", str(tracks)]
    )
    assert result.exit_code == 0, result.output
    assert len(list(open_source(out))) == 30
    assert read_mot(tracks, "results").frame.max() <= 29
    again = runner.invoke(main, [str(video), "--detector", f"file:{gt}", "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr


def test_eval_accepts_a_video_with_mot_ground_truth(clip, tmp_path):
    video, gt = clip
    result = CliRunner().invoke(
        main,
        [
            "eval",
            str(video),
            "--gt",
            str(gt),
            "--detector",
            f"file:{gt}",
            "--results-out",
            str(tmp_path / "r"),
            "--json",
            str(tmp_path / "m.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m.json").read_text())["metrics"]["pedestrian"]["HOTA"] > 80
    missing = CliRunner().invoke(main, ["eval", str(video), "--results-out", str(tmp_path / "r")])
    assert missing.exit_code == 2


def test_output_video_keeps_the_source_frame_rate(tmp_path):
    video, gt = tmp_path / "v.mp4", tmp_path / "g.txt"
    write_synthetic(SynthConfig(width=320, height=240, fps=25, num_frames=10, seed=2), video, gt)
    out = tmp_path / "o.mp4"
    result = CliRunner().invoke(main, [str(video), "--detector", f"file:{gt}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert open_source(out).fps == pytest.approx(25.0)


def test_image_folder_uses_the_given_rate(tmp_path):
    import cv2

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    source = open_source(tmp_path, default_fps=5.0)
    assert [f.time_s for f in source] == [0.0, 0.2, 0.4]
    assert [f.index for f in open_source(str(tmp_path / "*.png"), fps=2.0)] == [0, 1, 2]


def test_run_without_config_uses_the_shipped_default_preset(monkeypatch, tmp_path):
    import tracker.cli as cli

    seen = {}
    real = cli.load_config

    def spy(path=None, overrides=()):
        seen["path"] = path
        return real(path, overrides)

    monkeypatch.setattr(cli, "load_config", spy)
    CliRunner().invoke(main, [str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o.mp4")])
    assert Path(seen["path"]).name == "default.yaml"
