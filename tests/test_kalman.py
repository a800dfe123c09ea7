import numpy as np
from filterpy.common import Q_discrete_white_noise
from filterpy.kalman import KalmanFilter

from tracker.config import MotionConfig
from tracker.motion.kalman import KalmanBoxModel, full_covariance, xyxy_to_cxcywh


def filterpy_reference(config: MotionConfig, box: np.ndarray) -> KalmanFilter:
    """The same model written the textbook way, one filterpy filter with full matrices."""
    kf = KalmanFilter(dim_x=8, dim_z=4)
    kf.x = np.zeros(8)
    kf.x[:4] = xyxy_to_cxcywh(box[None])[0]
    w, h = kf.x[2], kf.x[3]
    scale = np.array([w, h, w, h])
    kf.P = np.diag(
        np.concatenate([(2 * config.std_measurement * scale) ** 2, (config.std_velocity_init * scale) ** 2])
    )
    kf.H = np.hstack([np.eye(4), np.zeros((4, 4))])
    return kf


def reference_step(kf: KalmanFilter, config: MotionConfig, dt: float, z_box: np.ndarray | None) -> None:
    w, h = kf.x[2], kf.x[3]
    scale = np.array([w, h, w, h])
    kf.F = np.eye(8)
    kf.F[:4, 4:] = np.eye(4) * dt
    q = Q_discrete_white_noise(dim=2, dt=dt, var=1.0)
    var = (config.std_acceleration * scale) ** 2
    kf.Q = np.kron(q, np.diag(var))
    kf.predict()
    if z_box is not None:
        w, h = kf.x[2], kf.x[3]
        kf.R = np.diag((config.std_measurement * np.array([w, h, w, h])) ** 2)
        kf.update(xyxy_to_cxcywh(z_box[None])[0])


def test_batched_filter_matches_filterpy_step_for_step(rng):
    config = MotionConfig(std_measurement=0.05, std_acceleration=2.0, std_velocity_init=1.5)
    model = KalmanBoxModel(config)
    start = np.array([[100, 50, 160, 120], [400, 300, 420, 340], [10, 10, 300, 200]], float)
    mean, cov = model.initiate(start)
    refs = [filterpy_reference(config, b) for b in start]
    for step in range(12):
        dt = 0.1 if step % 3 else 1 / 30
        mean, cov = model.predict(mean, cov, dt)
        boxes = start + step * np.array([5, -2, 7, 1]) + rng.normal(0, 1.5, start.shape)
        observed = step % 4 != 2  # every fourth frame the objects are missed
        if observed:
            mean, cov = model.update(mean, cov, boxes)
        for i, kf in enumerate(refs):
            reference_step(kf, config, dt, boxes[i] if observed else None)
            np.testing.assert_allclose(mean[i], kf.x, rtol=1e-9, atol=1e-7)
            np.testing.assert_allclose(full_covariance(cov)[i], kf.P, rtol=1e-9, atol=1e-7)


def test_predict_moves_box_by_velocity_times_dt_and_grows_uncertainty():
    model = KalmanBoxModel(MotionConfig())
    mean, cov = model.initiate(np.array([[0, 0, 10, 20]], float))
    mean[0, 4] = 30.0  # 30 px/s to the right
    new_mean, new_cov = model.predict(mean, cov, 0.5)
    assert new_mean[0, 0] == mean[0, 0] + 15.0
    assert (full_covariance(new_cov)[0].diagonal() > full_covariance(cov)[0].diagonal()).all()
    assert mean[0, 0] == 5.0, "inputs must not be modified"


def test_update_pulls_state_towards_measurement_and_learns_velocity():
    model = KalmanBoxModel(MotionConfig())
    mean, cov = model.initiate(np.array([[0, 0, 10, 10]], float))
    for k in range(1, 15):
        mean, cov = model.predict(mean, cov, 0.1)
        mean, cov = model.update(mean, cov, np.array([[k * 2.0, 0, 10 + k * 2.0, 10]]))
    assert abs(mean[0, 4] - 20.0) < 1.0  # 2 px per 0.1 s
