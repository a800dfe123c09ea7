"""The motion seam: a model that implements ``MotionModel`` and nothing more works in the
tracker and the pipeline, camera motion included, and the tracker asks for nothing else."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np

from tests.fakes import TruthDetector
from tests.test_tracker import dets, moving_box
from tracker import Tracker, TrackerConfig
from tracker.config import load_config
from tracker.motion import MotionModel
from tracker.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]


class StillBoxes:
    """Constant position, state ``[cx, cy, w, h]`` and a variance per coordinate: another
    layout than the Kalman filter's, implementing exactly the protocol."""

    def __init__(self, config=None) -> None:
        self.warps = 0

    def initiate(self, xyxy, velocity=None):
        xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
        mean = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        return mean, np.ones((len(mean), 4))

    def predict(self, mean, cov, dt, history=None, now_s=None):
        return mean.copy(), cov + dt

    def update(self, mean, cov, xyxy):
        return self.initiate(xyxy)[0], np.ones_like(cov)

    def boxes(self, mean):
        return np.concatenate([mean[:, :2] - mean[:, 2:] / 2, mean[:, :2] + mean[:, 2:] / 2], axis=1)

    def future_centres(self, mean, times_s, history=None, now_s=None):
        return np.repeat(mean[:, None, :2], len(times_s), axis=1)

    def warp(self, mean, cov, warp):
        self.warps += 1
        new = mean.copy()
        new[:, :2] = mean[:, :2] @ warp[:, :2].T + warp[:, 2]
        return new, cov

    def freeze_size(self, mean, rows):
        return mean

    def centre_std(self, mean, cov):
        return np.sqrt(cov[:, :2])


def test_the_tracker_calls_only_what_the_motion_protocol_declares():
    members = inspect.getmembers(MotionModel, inspect.isfunction)
    declared = {name for name, _ in members if not name.startswith("_")}
    called = set()
    for name in ("tracks.py", "lifecycle.py"):
        tree = ast.parse((ROOT / "tracker" / name).read_text())
        called |= {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "motion"
        }
    assert called and called <= declared, f"not in the protocol: {sorted(called - declared)}"
    assert {name for name in StillBoxes.__dict__ if not name.startswith("_")} == declared


def test_a_protocol_only_model_follows_the_camera():
    # The object stands still; the camera pans, so it moves 40 px a frame in the image: far
    # more than a still model's gate allows, unless the camera's motion is applied.
    tracker = Tracker(TrackerConfig(), ("car",), motion_factory=StillBoxes)
    pan = np.array([[1.0, 0.0, 40.0], [0.0, 1.0, 0.0]])
    ids = []
    for frame in range(8):
        tracks = tracker.update(dets(moving_box(frame, speed=40.0)), camera_motion=pan if frame else None)
        ids += tracks.id.tolist()
    assert ids and set(ids) == {1}
    (group,) = tracker._groups.values()
    assert group.motion.warps == 7 and group.table.mean.shape[1] == 4


def test_a_protocol_only_model_runs_in_the_pipeline_with_camera_motion_on(clip):
    video, gt = clip
    config = load_config(None, ["tracker.lifecycle.min_hits=1"])
    assert config.camera_motion.enabled
    with Pipeline(config, TruthDetector(gt)) as pipe:
        pipe.tracker = Tracker(config.tracker, pipe.class_names, motion_factory=StillBoxes)
        results = list(pipe.stream(video))
    assert len(results) == 40 and sum(len(r.tracks) for r in results) > 40


class SizeRecorder(StillBoxes):
    """Records the image size each prediction is given with the tracks' boxes."""

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.sizes = []

    def predict(self, mean, cov, dt, history=None, now_s=None):
        self.sizes.append(None if history is None else history.image_size)
        return super().predict(mean, cov, dt, history, now_s)


def test_the_frame_size_reaches_the_motion_model_and_is_kept_until_given_again():
    tracker = Tracker(TrackerConfig(), ("car",), motion_factory=SizeRecorder)
    tracker.update(dets(moving_box(0)))
    tracker.update(dets(moving_box(1)))  # no size given yet
    tracker.update(dets(moving_box(2)), image_size=(640, 480))
    tracker.update(dets(moving_box(3)))
    tracker.update(dets(moving_box(4)), image_size=(320, 240))
    (group,) = tracker._groups.values()
    assert group.motion.sizes == [None, (640.0, 480.0), (640.0, 480.0), (320.0, 240.0)]


def test_the_pipeline_gives_the_motion_model_its_frames_size(clip):
    video, gt = clip
    config = load_config(None, ["tracker.lifecycle.min_hits=1"])
    models = []

    def factory(motion_config):
        models.append(SizeRecorder(motion_config))
        return models[-1]

    with Pipeline(config, TruthDetector(gt)) as pipe:
        pipe.tracker = Tracker(config.tracker, pipe.class_names, motion_factory=factory)
        results = list(pipe.stream(video))
    height, width = results[0].frame.image.shape[:2]
    sizes = [size for model in models for size in model.sizes]
    assert sizes and set(sizes) == {(float(width), float(height))}


def test_each_class_group_tells_the_motion_model_its_motion_class():
    classes = []

    class ClassRecorder(StillBoxes):
        def predict(self, mean, cov, dt, history=None, now_s=None):
            classes.append(history.motion_class)
            return super().predict(mean, cov, dt, history, now_s)

    for names, expected in ((("person",), 1), (("cyclist",), 2), (("van",), 0), (("traffic light",), -1)):
        classes.clear()
        tracker = Tracker(TrackerConfig(), names, motion_factory=ClassRecorder)
        for frame in range(3):
            tracker.update(dets(moving_box(frame)))
        assert classes and set(classes) == {expected}, names
