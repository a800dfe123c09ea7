"""Synthetic driving scenes for training the motion model: road users in 3D, seen by a moving
pinhole camera.

The KITTI dev split has few pedestrian tracks (most of them in one sequence) and few scenes
where the camera stands still, while footage of crossings and streets is full of both. Here a
camera on a car that stops, crawls or cruises, steering through turns and pitching on bumps,
films pedestrians who walk, turn, stop and start (their boxes swaying with the gait), cars that
park, follow, overtake or come the other way, and cyclists. Each object's 3D box is projected
into the image and clipped to it, as KITTI's labels are; an object is kept while enough of it
is in view. Nothing here is fitted to a dataset: the numbers are those of ordinary traffic
(walking 0.8-1.8 m/s, a camera 1.65 m above the road, focal lengths of common dashcams).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..motion.trajectories import Trajectory

# (height, width, length) ranges in metres per class
_SIZES = {
    "pedestrian": ((1.5, 1.9), (0.5, 0.8), (0.5, 0.8)),
    "cyclist": ((1.6, 1.9), (0.5, 0.7), (1.6, 1.9)),
    "car": ((1.4, 1.7), (1.6, 1.9), (3.8, 4.8)),
}
_CORNERS = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (0.0, 1.0) for z in (-0.5, 0.5)])


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: focal length and principal point in pixels, image size, height above
    the road in metres."""

    focal: float
    cx: float
    cy: float
    width: int
    height: int
    mount_m: float = 1.65


def random_camera(rng: np.random.Generator) -> Camera:
    """A KITTI-like wide strip or a 16:9 dashcam."""
    if rng.uniform() < 0.5:
        width, height, focal = 1242, 375, rng.uniform(650, 780)
    else:
        width, height = 1280, 720
        focal = rng.uniform(700, 1100)
    return Camera(
        focal,
        width / 2 + rng.normal(0, 10),
        height * rng.uniform(0.42, 0.5),
        width,
        height,
        rng.uniform(1.2, 1.8),
    )


def driving_trajectories(seeds: Iterable[int], num_frames: int = 200, fps: float = 10.0) -> list[Trajectory]:
    """The visible objects of one synthetic scene per seed, as trajectories (pixels, clipped
    to the image) with their classes."""
    out = []
    for seed in seeds:
        out.extend(_scene(np.random.default_rng(seed), f"drive{seed}", num_frames, fps))
    return out


def _ego_path(rng: np.random.Generator, n: int, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera position (n, 2: x right, z forward, metres), heading (n,) and pitch (n,)."""
    mode = rng.choice(["stopped", "slow", "cruise"], p=[0.35, 0.3, 0.35])
    target = {"stopped": 0.0, "slow": rng.uniform(1.5, 5.0), "cruise": rng.uniform(7.0, 16.0)}[mode]
    speed = np.empty(n)
    yaw_rate = np.empty(n)
    v, w = target, 0.0
    stop_at = rng.integers(n // 3, n) if mode != "stopped" and rng.uniform() < 0.3 else n
    for i in range(n):
        goal = 0.0 if i >= stop_at else target
        v = max(0.0, v + np.clip(goal - v, -3.0 * dt, 2.0 * dt) + rng.normal(0, 0.15) * dt)
        if rng.uniform() < 0.02:  # a turn begins or ends
            w = rng.choice([0.0, 0.0, rng.uniform(-0.35, 0.35)])
        speed[i], yaw_rate[i] = v, w * min(1.0, v / 3.0)
    yaw = np.cumsum(yaw_rate * dt)
    pos = np.cumsum(np.stack([np.sin(yaw), np.cos(yaw)], axis=1) * (speed * dt)[:, None], axis=0)
    bumps = np.cumsum(rng.normal(0, 0.002, n)) * 0.5
    pitch = bumps - np.convolve(bumps, np.ones(9) / 9, mode="same") + 0.004 * np.sin(np.arange(n) * dt * 7)
    return pos, yaw, pitch * min(1.0, target / 5.0 + 0.2)


def _object_paths(
    rng: np.random.Generator, cls: str, n: int, dt: float, ego_speed: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World position (n, 2), heading (n,) and speed (n, m/s) of one object."""
    if cls == "pedestrian":
        start = np.array([rng.choice([-1, 1]) * rng.uniform(1.5, 12.0), rng.uniform(3.0, 45.0)])
        heading = rng.choice([rng.uniform(-np.pi, np.pi), np.pi / 2, -np.pi / 2, 0.0, np.pi])
        walk = 0.0 if rng.uniform() < 0.25 else rng.uniform(0.8, 1.8)
        pos, head, speed = np.empty((n, 2)), np.empty(n), np.empty(n)
        p, h, v = start.copy(), heading, walk
        for i in range(n):
            if rng.uniform() < 0.01:  # stop, or start walking
                v = 0.0 if v > 0 else rng.uniform(0.8, 1.8)
            h += rng.normal(0, 0.05) + (rng.uniform(-1.5, 1.5) if rng.uniform() < 0.005 else 0.0)
            p = p + v * dt * np.array([np.sin(h), np.cos(h)])
            pos[i], head[i], speed[i] = p, h, v
        return pos, head, speed
    lane = rng.choice([-3.5, 0.0, 3.5, -6.5, 6.5]) + rng.normal(0, 0.3)
    z0 = rng.uniform(4.0, 60.0)
    if cls == "cyclist":
        speed = rng.uniform(2.5, 7.0) * rng.choice([1, 1, -1])
    elif abs(lane) > 5:  # parked
        speed = 0.0
    else:
        speed = rng.choice([ego_speed + rng.normal(0, 2.0), -rng.uniform(6.0, 15.0), rng.uniform(0.0, 14.0)])
    if abs(lane) < 5 and speed < 0:
        lane = -3.5 + rng.normal(0, 0.3)  # oncoming traffic keeps to its own lane
    heading = 0.0 if speed >= 0 else np.pi
    t = np.arange(n) * dt
    drift = np.cumsum(rng.normal(0, 0.01, n))
    pos = np.stack([lane + drift, z0 + speed * t], axis=1)
    return pos, np.full(n, heading) + drift * 0.02, np.full(n, abs(speed))


def _project(cam: Camera, corners_cam: np.ndarray, pitch: float) -> np.ndarray | None:
    """xyxy of the clipped projection of (8, 3) camera-frame corners (x right, y down, z ahead),
    or None where it is behind the camera or mostly outside the image."""
    cos, sin = np.cos(pitch), np.sin(pitch)
    y = cos * corners_cam[:, 1] - sin * corners_cam[:, 2]
    z = sin * corners_cam[:, 1] + cos * corners_cam[:, 2]
    if z.min() < 1.0:
        return None
    u = cam.focal * corners_cam[:, 0] / z + cam.cx
    v = cam.focal * y / z + cam.cy
    box = np.array([u.min(), v.min(), u.max(), v.max()])
    clipped = np.clip(box, 0, [cam.width, cam.height, cam.width, cam.height])
    area = (box[2] - box[0]) * (box[3] - box[1])
    seen = max(0.0, clipped[2] - clipped[0]) * max(0.0, clipped[3] - clipped[1])
    if seen < 0.5 * area or clipped[3] - clipped[1] < 20 or clipped[2] - clipped[0] < 6:
        return None
    return clipped


def to_camera(points: np.ndarray, camera_xz: np.ndarray, camera_yaw: float, mount_m: float) -> np.ndarray:
    """World points (k, 3: x right, height above the road, z forward; metres) in the frame of a
    camera at ``camera_xz`` heading ``camera_yaw`` (radians from +z towards +x), ``mount_m``
    above the road: (k, 3) x right, y down, z ahead."""
    dx, dz = points[:, 0] - camera_xz[0], points[:, 2] - camera_xz[1]
    cos, sin = np.cos(camera_yaw), np.sin(camera_yaw)
    return np.stack([cos * dx - sin * dz, mount_m - points[:, 1], sin * dx + cos * dz], axis=1)


def _scene(rng: np.random.Generator, name: str, n: int, fps: float) -> list[Trajectory]:
    dt = 1.0 / fps
    cam = random_camera(rng)
    ego, ego_yaw, pitch = _ego_path(rng, n, dt)
    ego_speed = float(np.linalg.norm(ego[-1] - ego[0]) / (n * dt))
    counts = {"pedestrian": rng.integers(2, 16), "car": rng.integers(0, 12), "cyclist": rng.integers(0, 4)}
    out = []
    k = 0
    for cls, count in counts.items():
        (h_lo, h_hi), (w_lo, w_hi), (l_lo, l_hi) = _SIZES[cls]
        for _ in range(int(count)):
            size = np.array([rng.uniform(w_lo, w_hi), rng.uniform(h_lo, h_hi), rng.uniform(l_lo, l_hi)])
            pos, head, speed = _object_paths(rng, cls, n, dt, ego_speed)
            pos = pos + ego[0]  # placed around where the camera starts
            # A walker's box widens twice a stride (legs apart), about 1.6-2.2 times a second.
            phase, stride_hz = rng.uniform(0, 2 * np.pi), rng.uniform(0.8, 1.1)
            frames, boxes = [], []
            for i in range(n):
                scale = size.copy()
                if cls == "pedestrian" and speed[i] > 0:  # legs and arms swing, the head bobs
                    swing = np.sin(2 * np.pi * stride_hz * i * dt + phase)
                    scale[0] *= 1 + 0.12 * abs(swing)
                    scale[1] *= 1 + 0.015 * swing
                c, s = np.cos(head[i]), np.sin(head[i])
                local = _CORNERS * scale
                world = np.stack(
                    [
                        pos[i, 0] + c * local[:, 0] + s * local[:, 2],
                        local[:, 1],
                        pos[i, 1] - s * local[:, 0] + c * local[:, 2],
                    ],
                    axis=1,
                )
                cam_pts = to_camera(world, ego[i], ego_yaw[i], cam.mount_m)
                centre = cam_pts.mean(axis=0)
                if abs(centre[0]) < 1.5 and centre[2] < 5.0:
                    continue  # in the camera car's path: it would have braked; not a scene to learn
                box = _project(cam, cam_pts, pitch[i])
                if box is not None:
                    frames.append(i)
                    boxes.append(box)
            if len(frames) >= 8:
                frame = np.array(frames)
                size = (float(cam.width), float(cam.height))
                out.append(Trajectory(f"{name}:{k}", frame, frame * dt, np.array(boxes), cls, size))
            k += 1
    return out


__all__ = ["Camera", "driving_trajectories", "random_camera", "to_camera"]
