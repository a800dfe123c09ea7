"""The pipeline and multi-stream runs: one set of stages, one per-frame step, one way to draw
and finalise outputs; per-run state; batching, thread priorities and cores, encoder settings,
faults and Ctrl-C, end to end."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.fakes import TruthDetector
from tracker.config import load_config
from tracker.multi import run_multi
from tracker.outputs import StreamOutputs
from tracker.pipeline import Pipeline
from tracker.render import Renderer
from tracker.source import open_source
from tracker.stages import detector_batch_size
from tracker.structures import Detections


def _recording(monkeypatch) -> tuple[dict, list]:
    """Record every annotated image by (video name, frame index), and the length of every
    trail and predicted path drawn."""
    drawn: dict = {}
    trails: list = []
    draw, trail, path = StreamOutputs.draw, Renderer._trail, Renderer._path

    def recording_draw(self, result, tracker):
        image = draw(self, result, tracker)
        drawn[(Path(self.video_path).name, result.frame.index)] = image
        return image

    def recording_trail(self, out, xyxy, colour):
        trails.append(len(xyxy))
        trail(self, out, xyxy, colour)

    def recording_path(out, points, colour):
        trails.append(-len(points))
        path(out, points, colour)

    monkeypatch.setattr(StreamOutputs, "draw", recording_draw)
    monkeypatch.setattr(Renderer, "_path", staticmethod(recording_path))
    monkeypatch.setattr(Renderer, "_trail", recording_trail)
    return drawn, trails


def test_multi_stream_videos_have_trails_and_paths_like_single_runs(clip, tmp_path, monkeypatch):
    video, gt = clip
    config = load_config(None, ["tracker.lifecycle.min_hits=1"])
    drawn, trails = _recording(monkeypatch)
    summaries, _, _ = run_multi(config, TruthDetector(gt), [video], tmp_path / "multi")
    assert summaries[0].frames == 40 and Path(summaries[0].video_out).is_file()
    assert max(trails) > 5, "multi-stream videos draw trails"
    assert min(trails) == -11, "and predicted paths"
    multi = {index: image for (_, index), image in drawn.items()}
    drawn.clear()
    with Pipeline(config, TruthDetector(gt)) as pipe:
        pipe.run(video, tmp_path / "single.mp4")
    assert sorted(multi) == list(range(40))
    for (_, index), image in drawn.items():
        np.testing.assert_array_equal(multi[index], image, err_msg=f"frame {index}")


class SlowWithInvalid(TruthDetector):
    """The truth, plus one NaN box per frame, slowly (so that summed timings would show)."""

    def detect(self, frames):
        time.sleep(0.005 * len(frames))
        out = []
        for d in super().detect(frames):
            xyxy = np.vstack([d.xyxy, [[np.nan, 0, 5, 5]]])
            out.append(Detections(xyxy, np.append(d.score, 0.9), np.append(d.class_id, 0)))
        return out


@pytest.mark.parametrize("threaded", [True, False])
def test_two_runs_on_one_pipeline_give_the_same_summary(clip, tmp_path, threaded):
    video, gt = clip
    config = load_config(None, [f"run.threaded={str(threaded).lower()}"])
    with Pipeline(config, SlowWithInvalid(gt)) as pipe:
        first = pipe.run(video, tmp_path / "a.mp4", tmp_path / "a.jsonl")
        second = pipe.run(video, tmp_path / "b.mp4", tmp_path / "b.jsonl")
        third = [r.tracks.id.tolist() for r in pipe.stream(video)]
    assert (first.frames, first.invalid_detections) == (40, 40) and first.tracks > 0
    assert (second.frames, second.tracks, second.invalid_detections) == (40, first.tracks, 40)
    assert set(second.stage_s) == set(first.stage_s)
    for summary in (first, second):  # each stage's seconds are this run's only
        assert summary.stage_s["detect"] <= summary.wall_s
    # ids restart and the tracker's clock with them: the same tracks, frame for frame
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    assert third == [r.tracks.id.tolist() for r in Pipeline(config, SlowWithInvalid(gt)).stream(video)]


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


def test_a_run_replaces_an_existing_output_only_when_asked(clip, tmp_path):
    video, gt = clip
    out = tmp_path / "t.jsonl"
    out.write_text("keep\n")
    with Pipeline(load_config(), TruthDetector(gt)) as pipe:
        with pytest.raises(FileExistsError, match="t.jsonl exists"):
            pipe.run(video, None, out, overwrite=False)
        assert out.read_text() == "keep\n" and pipe.last_summary is None
        assert pipe.run(video, None, out).frames == 40
    assert out.read_text() != "keep\n"


def test_a_decoding_error_is_named_for_the_decoder(clip):
    video, gt = clip

    def broken():
        yield from [np.zeros((240, 320, 3), np.uint8)] * 3
        raise OSError("camera unplugged")

    with Pipeline(load_config(), TruthDetector(gt)) as pipe, pytest.raises(OSError) as caught:
        list(pipe.stream(broken(), fps=10))
    assert caught.value.stage == "decode"
