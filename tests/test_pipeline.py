"""The pipeline and multi-stream runs: one set of stages, one per-frame step, one way to draw
and finalise outputs; per-run state."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.test_video import TruthDetector, clip  # noqa: F401 - clip is a fixture
from tracker.config import load_config
from tracker.multi import run_multi
from tracker.outputs import StreamOutputs
from tracker.pipeline import Pipeline
from tracker.render import Renderer
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


def test_multi_stream_videos_have_trails_and_paths_like_single_runs(clip, tmp_path, monkeypatch):  # noqa: F811
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
def test_two_runs_on_one_pipeline_give_the_same_summary(clip, tmp_path, threaded):  # noqa: F811
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
