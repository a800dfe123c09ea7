import numpy as np
import pytest

from tracker import Detections, Tracker, TrackerConfig, TrackState
from tracker.config import LifecycleConfig, config_from_dict

NAMES = ("car", "van", "truck", "pedestrian")
CAR, VAN, TRUCK, PED = range(4)


def dets(*rows):
    """rows: (x1, y1, x2, y2, score, class_id)"""
    if not rows:
        return Detections.empty()
    a = np.array(rows, float)
    return Detections(a[:, :4], a[:, 4], a[:, 5].astype(int))


def moving_box(frame, x0=100.0, speed=5.0, cls=CAR, score=0.95):
    x = x0 + speed * frame
    return (x, 100.0, x + 60.0, 150.0, score, cls)


def config(**lifecycle):
    return TrackerConfig(lifecycle=LifecycleConfig(**lifecycle))


def test_confirmation_after_min_hits_and_stable_id():
    tracker = Tracker(config(min_hits=3), NAMES)
    reported = [tracker.update(dets(moving_box(f))) for f in range(6)]
    assert [len(r) for r in reported] == [0, 0, 1, 1, 1, 1]
    assert {int(r.id[0]) for r in reported if len(r)} == {1}


def test_instant_confirmation_for_confident_detections():
    tracker = Tracker(config(min_hits=3, instant_confirm_score=0.9), NAMES)
    assert len(tracker.update(dets(moving_box(0, score=0.95)))) == 1


@pytest.mark.parametrize("fps", [10.0, 30.0])
def test_lost_lifetime_is_in_seconds_whatever_the_frame_rate(fps):
    cfg = config(min_hits=1, max_lost_s=1.0)
    tracker = Tracker(cfg, NAMES)
    frame = 0
    for _ in range(3):
        tracker.update(dets(moving_box(frame)), time_s=frame / fps)
        frame += 1
    gap_frames = 0
    while True:  # the object disappears
        tracker.update(dets(), time_s=frame / fps)
        states = [t.state for t in tracker.live_tracks()]
        if not states:
            break
        assert states == [TrackState.LOST]
        frame += 1
        gap_frames += 1
    # lost from the first missing frame; removed once more than 1 s has passed
    assert gap_frames == int(fps)


@pytest.mark.parametrize("fps", [10.0, 30.0])
def test_object_reappearing_within_max_lost_keeps_its_id(fps):
    tracker = Tracker(config(min_hits=1, max_lost_s=1.0), NAMES)
    speed = 50.0 / fps  # 50 px/s
    ids = []
    for f in range(int(2 * fps)):
        hidden = fps <= f < fps * 1.5  # hidden for 0.5 s
        out = tracker.update(dets() if hidden else dets(moving_box(f, speed=speed)), time_s=f / fps)
        ids += out.id.tolist()
    assert set(ids) == {1}


def test_frame_rate_used_when_no_timestamps():
    cfg = TrackerConfig(frame_rate=10.0, lifecycle=LifecycleConfig(min_hits=1, max_lost_s=0.25))
    tracker = Tracker(cfg, NAMES)
    tracker.update(dets(moving_box(0)))
    tracker.update(dets())  # 0.1 s lost
    tracker.update(dets())  # 0.2 s
    assert len(tracker.live_tracks()) == 1
    tracker.update(dets())  # 0.3 s > 0.25 s
    assert tracker.live_tracks() == []


def test_ids_restart_per_instance_and_on_reset():
    a, b = Tracker(config(min_hits=1), NAMES), Tracker(config(min_hits=1), NAMES)
    for tracker in (a, b):
        out = tracker.update(dets(moving_box(0), moving_box(0, x0=500)))
        assert sorted(out.id.tolist()) == [1, 2]
    a.reset()
    assert a.update(dets(moving_box(0, x0=900))).id.tolist() == [1]


def test_car_never_takes_a_pedestrian_detection():
    tracker = Tracker(config(min_hits=1), NAMES)
    car = tracker.update(dets(moving_box(0))).id[0]
    out = tracker.update(dets(moving_box(1, cls=PED)))
    assert car not in out.id.tolist()
    assert out.class_id.tolist() == [PED]


def test_car_van_truck_flicker_keeps_the_id_and_the_majority_class():
    tracker = Tracker(config(min_hits=1), NAMES)
    labels = [CAR, CAR, VAN, CAR, TRUCK, CAR, VAN, CAR, CAR, CAR]
    outs = [tracker.update(dets(moving_box(f, cls=c))) for f, c in enumerate(labels)]
    assert {int(o.id[0]) for o in outs} == {1}
    assert {int(o.class_id[0]) for o in outs} == {CAR}


def test_class_switches_once_the_votes_say_so():
    tracker = Tracker(config(min_hits=1), NAMES)
    outs = [tracker.update(dets(moving_box(f, cls=CAR if f < 2 else VAN))) for f in range(8)]
    assert outs[-1].class_id[0] == VAN and outs[-1].id[0] == 1


def test_low_score_detection_extends_a_track_but_does_not_start_one():
    tracker = Tracker(config(min_hits=1, high_score=0.6, low_score=0.1, new_track_score=0.7), NAMES)
    tracker.update(dets(moving_box(0)))
    out = tracker.update(dets(moving_box(1, score=0.3), moving_box(1, x0=800, score=0.3)))
    assert out.id.tolist() == [1]
    assert len(tracker.live_tracks()) == 1


def test_fast_object_without_overlap_is_followed_by_the_recovery_round():
    cfg = config_from_dict(
        {
            "tracker": {
                "association": {"cost": "diou", "max_cost": 0.5, "recovery_max_cost": 1.3},
                "lifecycle": {"min_hits": 1},
            }
        }
    ).tracker
    tracker = Tracker(cfg, NAMES)
    ids = [tracker.update(dets(moving_box(f, speed=70.0))).id.tolist() for f in range(3)]
    assert ids == [[1], [1], [1]]
    plain = Tracker(config(min_hits=1), NAMES)
    ids = [plain.update(dets(moving_box(f, speed=70.0))).id.tolist() for f in range(3)]
    assert ids != [[1], [1], [1]]


def test_removed_tracks_are_dropped_and_history_is_bounded():
    tracker = Tracker(config(min_hits=1, max_lost_s=0.1, history_len=5), NAMES)
    for f in range(50):  # a new object every frame, each seen once
        tracker.update(dets(moving_box(0, x0=100.0 * (f % 12))), time_s=f)
    assert len(tracker.live_tracks()) <= 2
    tracker.reset()
    for f in range(20):
        tracker.update(dets(moving_box(f)), time_s=f * 0.1)
    (track,) = tracker.live_tracks()
    assert track.history.shape == (5, 5)
    np.testing.assert_allclose(track.history[:, 0], [1.5, 1.6, 1.7, 1.8, 1.9])


def test_invalid_boxes_are_ignored():
    tracker = Tracker(config(min_hits=1), NAMES)
    out = tracker.update(dets((np.nan, 0, 10, 10, 0.9, CAR), (5, 5, 5, 9, 0.9, CAR), moving_box(0)))
    assert len(out) == 1


def test_cross_class_nms_keeps_the_stronger_box():
    cfg = TrackerConfig(cross_class_nms_iou=0.5, lifecycle=LifecycleConfig(min_hits=1))
    tracker = Tracker(cfg, NAMES)
    out = tracker.update(dets(moving_box(0, cls=CAR, score=0.95), moving_box(0, cls=PED, score=0.8)))
    assert out.class_id.tolist() == [CAR]


def test_reported_ids_are_consecutive_from_one_although_tentative_tracks_come_and_go():
    """Issue 15: people count vehicles by id. Flickering one-frame boxes (never confirmed)
    take no public id; every reported id is 1, 2, 3, ... in order of first report, across
    class groups."""
    tracker = Tracker(config(min_hits=3, instant_confirm_score=1.1), NAMES)
    first_seen = []
    for f in range(40):
        rows = [moving_box(f, x0=100.0), (600.0 + 7 * f, 300.0, 640.0 + 7 * f, 330.0, 0.9, CAR)]
        if f % 3 == 0:  # a ghost box, never seen twice
            rows.append((50.0 * (f % 7), 500.0, 50.0 * (f % 7) + 20, 520.0, 0.9, PED))
        if f >= 10:  # a pedestrian appears later
            rows.append((300.0, 200.0 + f, 330.0, 280.0 + f, 0.9, PED))
        for tid in tracker.update(dets(*rows)).id.tolist():
            if tid not in first_seen:
                first_seen.append(tid)
    assert first_seen == list(range(1, len(first_seen) + 1))
    assert len(first_seen) == 3
    assert tracker.tracks_reported == 3


def test_new_track_starts_with_the_velocity_of_tracks_near_it():
    # A car crosses at 300 px/s; a second one appears just behind it. Born with its
    # neighbour's motion, its prediction moves on; born still (radius 0) it stays put.
    speeds = {}
    for radius in (0.0, 4.0):
        tracker = Tracker(config(min_hits=1, birth_velocity_radius=radius), NAMES)
        for f in range(5):
            tracker.update(dets(moving_box(f, speed=30.0)), time_s=f / 10)
        tracker.update(dets(moving_box(5, speed=30.0), moving_box(5, x0=30.0, speed=30.0)), time_s=0.5)
        paths = tracker.predicted_paths(horizon_s=1.0, steps=1)
        newest = max(paths)
        speeds[radius] = paths[newest][1, 0] - paths[newest][0, 0]
    assert speeds[0.0] == pytest.approx(0.0, abs=1e-6)
    # the neighbour's 300 px/s, shrunk towards still by the prior's weight (1 / (1 + 0.5))
    assert 150 < speeds[4.0] <= 300


def test_accumulated_evidence_reports_a_track_of_several_middling_detections():
    shown = {}
    for evidence in ("max", "accumulate"):
        tracker = Tracker(
            config(min_hits=1, report_score=0.8, evidence=evidence, high_score=0.5, new_track_score=0.5),
            NAMES,
        )
        shown[evidence] = [len(tracker.update(dets(moving_box(f, score=0.6)))) for f in range(3)]
    assert shown["max"] == [0, 0, 0]  # no single detection reaches 0.8
    assert shown["accumulate"] == [0, 1, 1]  # 1 - 0.4 * 0.4 = 0.84 after the second
