"""Camera-motion compensation: the estimate, its fallbacks, and the tracker moving tracks by it."""

import cv2
import numpy as np

from tracker.camera import IDENTITY, CameraMotion, FlowSettings, drop_zoom, warp_boxes
from tracker.config import MotionConfig, TrackerConfig
from tracker.motion.kalman import KalmanBoxModel
from tracker.structures import Detections
from tracker.tracks import Tracker


def textured(width: int = 1280, height: int = 720, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), (5, 5), 0)


def shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT)


def test_recovers_a_known_global_shift():
    base = textured()
    camera = CameraMotion()
    np.testing.assert_allclose(camera.update(base), IDENTITY)  # first frame: nothing to compare
    warp = camera.update(shifted(base, 11.5, -6.0))
    np.testing.assert_allclose(warp[:, :2], np.eye(2), atol=0.01)
    np.testing.assert_allclose(warp[:, 2], [11.5, -6.0], atol=0.5)


def test_recovers_a_zoom_when_asked():
    base = textured(seed=1)
    m = cv2.getRotationMatrix2D((640, 360), 0.0, 1.03)
    camera = CameraMotion(FlowSettings(zoom=True))
    camera.update(base)
    warp = camera.update(cv2.warpAffine(base, m, (1280, 720), borderMode=cv2.BORDER_REFLECT))
    assert abs(np.sqrt(np.linalg.det(warp[:, :2])) - 1.03) < 0.01
    np.testing.assert_allclose(warp[:, 2], m[:, 2], atol=1.5)


def test_forward_motion_is_not_taken_for_camera_motion():
    """A camera driving forward sees the scene expand around the vanishing point (here off
    the centre, as on the highway clip): depth-dependent, so by default no compensation. A
    turn (a pan of 20 px) while driving forward is still compensated, give or take the
    expansion's share at the frame's centre (0.02 x 60 px)."""
    base = textured(seed=4)
    expand = cv2.getRotationMatrix2D((700, 420), 0.0, 1.05)
    camera = CameraMotion()
    camera.update(base)
    warp = camera.update(cv2.warpAffine(base, expand, (1280, 720), borderMode=cv2.BORDER_REFLECT))
    np.testing.assert_allclose(warp[:, :2], np.eye(2), atol=0.01)
    assert np.abs(warp[:, 2]).max() < 1.0
    turn = cv2.getRotationMatrix2D((700, 420), 0.0, 1.02)
    turn[0, 2] += 20.0
    camera.update(base)
    warp = camera.update(cv2.warpAffine(base, turn, (1280, 720), borderMode=cv2.BORDER_REFLECT))
    np.testing.assert_allclose(warp[:, :2], np.eye(2), atol=0.01)
    np.testing.assert_allclose(warp[:, 2], [20.0, 0.0], atol=2.0)


def test_drop_zoom_keeps_rotation_about_the_fixed_point_or_the_centre():
    m = cv2.getRotationMatrix2D((600.0, 330.0), 2.0, 1.04)  # fixed point in the middle
    out = drop_zoom(m, 1280, 720)
    assert abs(np.linalg.det(out[:, :2]) - 1.0) < 1e-9
    np.testing.assert_allclose(out[:, :2] @ [600.0, 330.0] + out[:, 2], [600.0, 330.0], atol=1e-6)
    far = cv2.getRotationMatrix2D((100.0, 50.0), 2.0, 1.04)  # far off: about the frame's centre
    out = drop_zoom(far, 1280, 720)
    np.testing.assert_allclose(
        out[:, :2] @ [640.0, 360.0] + out[:, 2], far[:, :2] @ [640.0, 360.0] + far[:, 2]
    )
    np.testing.assert_allclose(drop_zoom(IDENTITY, 1280, 720), IDENTITY)
    shift = np.array([[1.0, 0.0, 7.0], [0.0, 1.0, -3.0]])
    np.testing.assert_allclose(drop_zoom(shift, 1280, 720), shift)


def test_identity_at_a_scene_cut_and_a_resolution_change():
    camera = CameraMotion()
    camera.update(textured(seed=2))
    np.testing.assert_allclose(camera.update(textured(seed=3)), IDENTITY)  # unrelated image
    assert camera.failures == 1
    np.testing.assert_allclose(camera.update(textured(640, 360, seed=3)), IDENTITY)  # new size
    flat = np.full((720, 1280, 3), 90, np.uint8)
    camera.reset()
    camera.update(flat)
    np.testing.assert_allclose(camera.update(flat), IDENTITY)  # nothing to track


def test_box_and_state_warps_agree():
    warp = np.array([[1.02, 0.0, 5.0], [0.0, 1.02, -3.0]])
    boxes = np.array([[100.0, 50.0, 160.0, 90.0]])
    moved = warp_boxes(boxes, warp)
    model = KalmanBoxModel(MotionConfig())
    mean, cov = model.initiate(boxes)
    new_mean, new_cov = model.warp(mean, cov, warp)
    np.testing.assert_allclose(model.boxes(new_mean), moved)
    assert np.all(new_cov >= cov)


def test_compensation_keeps_ids_when_the_camera_jerks():
    """Still objects, a camera that jumps 40 px one way then the other: without compensation the
    tracks' boxes no longer overlap their objects; with it, every id survives."""

    def run(compensate: bool) -> tuple[set[int], int]:
        tracker = Tracker(TrackerConfig(frame_rate=10.0), ("car",))
        world = np.array([[100, 100, 130, 130], [300, 200, 330, 240]], np.float32)
        cam = 0.0
        ids: set[int] = set()
        reported = 0
        for f in range(20):
            step = 40.0 if f % 6 < 3 else -40.0
            cam += step
            boxes = world - np.array([cam, 0, cam, 0], np.float32)
            warp = np.array([[1.0, 0.0, -step], [0.0, 1.0, 0.0]]) if compensate else None
            tracks = tracker.update(Detections(boxes, np.full(2, 0.9), np.zeros(2)), camera_motion=warp)
            ids.update(tracks.id.tolist())
            reported += len(tracks)
        return ids, reported

    assert run(True) == ({1, 2}, 2 * 19)  # both objects, every frame after the first
    ids, reported = run(False)
    # Without it the tracks never confirm (or keep being reborn): the objects are lost.
    assert len(ids) > 2 or reported < 10
