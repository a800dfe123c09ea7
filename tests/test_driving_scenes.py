"""The synthetic 3D driving scenes the motion model also trains on."""

import numpy as np

from tracker.training.driving_scenes import Camera, _project, driving_trajectories, to_camera


def test_scenes_are_reproducible_for_a_seed_and_differ_between_seeds():
    a, b, c = driving_trajectories([3], 80), driving_trajectories([3], 80), driving_trajectories([4], 80)
    assert [t.name for t in a] == [t.name for t in b]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.xyxy, y.xyxy)
    assert len(a) != len(c) or any(not np.array_equal(x.xyxy, y.xyxy) for x, y in zip(a, c, strict=False))


def test_scenes_hold_every_class_with_boxes_shaped_like_them_and_inside_the_image():
    tracks = driving_trajectories(range(12), 120)
    by_class = {cls: [t for t in tracks if t.cls == cls] for cls in ("pedestrian", "car", "cyclist")}
    assert all(len(v) >= 5 for v in by_class.values()), {k: len(v) for k, v in by_class.items()}
    for t in tracks:
        assert np.all(np.diff(t.frame) > 0) and np.allclose(t.time_s, t.frame / 10.0)
        assert np.all(t.xyxy[:, 2:] > t.xyxy[:, :2]) and np.all(t.xyxy >= 0)
        assert np.all(t.xyxy[:, 3] - t.xyxy[:, 1] >= 20)  # as small as KITTI labels go
    aspect = {
        cls: np.median(
            np.concatenate([(t.xyxy[:, 3] - t.xyxy[:, 1]) / (t.xyxy[:, 2] - t.xyxy[:, 0]) for t in v])
        )
        for cls, v in by_class.items()
    }
    assert aspect["pedestrian"] > 1.8 and aspect["car"] < 1.0, aspect  # tall people, wide cars
    # walking pedestrians and moving cameras: boxes move, by a few pixels a frame
    speed = np.median([np.median(np.abs(np.diff(t.xyxy[:, 0]))) for t in by_class["pedestrian"]])
    assert 0.3 < speed < 20


def test_projection_follows_the_pinhole_model():
    cam = Camera(focal=700.0, cx=640.0, cy=360.0, width=1280, height=720, mount_m=1.5)
    # a 1.8 m tall, 0.6 m wide box standing on the road 10 m ahead, straight in front
    x, y, z = np.meshgrid([-0.3, 0.3], [1.5, 1.5 - 1.8], [9.9, 10.1], indexing="ij")
    box = _project(cam, np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1), pitch=0.0)
    assert box is not None
    np.testing.assert_allclose((box[0] + box[2]) / 2, 640.0, atol=1e-6)
    np.testing.assert_allclose(box[3], 360.0 + 700.0 * 1.5 / 9.9, rtol=1e-9)  # feet at the near face
    assert 120 < box[3] - box[1] < 130  # about 700 * 1.8 / 10 px tall
    # behind the camera, or mostly out of the image: not seen
    assert _project(cam, np.stack([x.ravel(), y.ravel(), -z.ravel()], axis=1), 0.0) is None
    assert _project(cam, np.stack([x.ravel() + 20, y.ravel(), z.ravel()], axis=1), 0.0) is None


def test_a_model_trained_on_driving_scenes_beats_constant_velocity_on_unseen_ones():
    from tests.test_motion_lstm import _centre_error_1s, constant_velocity
    from tracker.motion.lstm import LSTMPredictor
    from tracker.motion.trajectories import make_samples
    from tracker.training.motion import HORIZONS_S, TrainSettings, train_motion

    result = train_motion(
        None, TrainSettings(epochs=4, synthetic_scenes=0, driving_scenes=8, hidden=32, seed=3)
    )
    held = make_samples(driving_trajectories(range(990_000, 990_006)), HORIZONS_S)
    predicted = LSTMPredictor.from_model(result.model).predict(held.histories, np.array(held.horizons_s))
    cv = constant_velocity(held.histories, held.horizons_s)
    assert _centre_error_1s(predicted, held) < 0.85 * _centre_error_1s(cv, held)


def test_world_points_come_into_the_camera_frame_by_its_position_and_heading():
    # a post 1 m tall, 10 m ahead and 2 m to the right of a camera at the origin facing +z
    post = np.array([[2.0, 0.0, 10.0], [2.0, 1.0, 10.0]])
    seen = to_camera(post, np.array([0.0, 0.0]), 0.0, mount_m=1.5)
    np.testing.assert_allclose(seen, [[2.0, 1.5, 10.0], [2.0, 0.5, 10.0]])  # y down from the lens
    # the camera moved 4 m forward: the post is 6 m ahead
    np.testing.assert_allclose(to_camera(post, np.array([0.0, 4.0]), 0.0, 1.5)[:, 2], 6.0)
    # turned a quarter to the right (towards +x): the post at x = 10 is straight ahead, and
    # one on the old forward axis lies to the left
    ahead = to_camera(np.array([[10.0, 0.0, 0.0], [0.0, 0.0, 10.0]]), np.zeros(2), np.pi / 2, 1.5)
    np.testing.assert_allclose(ahead[0], [0.0, 1.5, 10.0], atol=1e-9)
    np.testing.assert_allclose(ahead[1], [-10.0, 1.5, 0.0], atol=1e-9)


def test_a_camera_driving_forward_sees_a_parked_car_grow_and_move_outward():
    cam = Camera(focal=700.0, cx=640.0, cy=300.0, width=1280, height=720, mount_m=1.5)
    x, y, z = np.meshgrid([2.5, 4.3], [0.0, 1.5], [20.0, 24.5], indexing="ij")
    car = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
    boxes = [_project(cam, to_camera(car, np.array([0.0, d]), 0.0, 1.5), 0.0) for d in (0.0, 5.0, 10.0)]
    heights = [b[3] - b[1] for b in boxes]
    assert heights[0] < heights[1] < heights[2]
    assert boxes[0][0] < boxes[1][0] < boxes[2][0]  # right of centre, it drifts right
