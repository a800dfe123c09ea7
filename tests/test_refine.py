import cv2
import numpy as np
import pytest

from tracker.detect.refine import snap_edges, split_at_seams


def road(height=240, width=320, seed=0):
    rng = np.random.default_rng(seed)
    grey = np.clip(120 + rng.normal(0, 9, (height, width)), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def paint(image, box, bgr, shading=1.0):
    x1, y1, x2, y2 = box
    shade = np.linspace(1.0, shading, y2 - y1)[:, None, None]
    image[y1:y2, x1:x2] = (np.array(bgr)[None, None] * shade).astype(np.uint8)


def through_420(image):
    """What H.264's 4:2:0 chroma does to the edges."""
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)


@pytest.mark.parametrize(
    ("box", "subsampled", "tolerance"),
    [
        ((100, 60, 116, 82), True, 0.75),
        ((40, 50, 240, 170), True, 0.75),
        ((201, 33, 263, 59), False, 0.75),
        # 4:2:0 shares chroma between pixel pairs: an odd side is only known to within a pixel.
        ((201, 33, 263, 59), True, 1.1),
    ],
)
def test_sides_snap_to_the_painted_edges(box, subsampled, tolerance):
    image = road()
    paint(image, box, (20, 60, 230), shading=0.8)
    if subsampled:
        image = through_420(image)
    rng = np.random.default_rng(1)
    w, h = box[2] - box[0], box[3] - box[1]
    guess = np.array(box, np.float32) + rng.uniform(-0.12, 0.12, 4) * [w, h, w, h]
    (snapped,) = snap_edges(image, guess[None])
    np.testing.assert_allclose(snapped, box, atol=tolerance)
    assert np.abs(snapped - box).max() < np.abs(guess - box).max()


def test_side_hidden_under_another_object_keeps_the_estimate():
    image = road()
    paint(image, (60, 60, 180, 160), (230, 40, 40))  # blue object
    paint(image, (150, 40, 260, 200), (40, 220, 40))  # green one in front, hides its right side
    guess = np.array([[63.0, 58.0, 177.0, 163.0]], np.float32)
    (snapped,) = snap_edges(image, guess)
    np.testing.assert_allclose(snapped[[0, 1, 3]], [60, 60, 160], atol=0.75)
    assert snapped[2] == pytest.approx(177.0)  # the visible boundary at 150 is too far to take


def test_object_running_off_the_image_snaps_to_the_border():
    image = road()
    paint(image, (0, 100, 50, 150), (30, 200, 220))
    (snapped,) = snap_edges(image, np.array([[2.0, 98.0, 52.0, 151.0]], np.float32))
    np.testing.assert_allclose(snapped, [0, 100, 50, 150], atol=0.75)


def test_grey_boxes_and_tiny_boxes_are_left_alone():
    image = road()
    image[50:90, 50:120] = 225  # a white lane marking, not a coloured object
    boxes = np.array([[48.0, 52.0, 118.0, 93.0], [10.0, 10.0, 12.0, 13.0]], np.float32)
    np.testing.assert_array_equal(snap_edges(image, boxes), boxes)


def test_no_boxes():
    assert snap_edges(road(), np.zeros((0, 4), np.float32)).shape == (0, 4)


def hsv_bgr(hue, saturation, value):
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return (b * 255, g * 255, r * 255)


@pytest.mark.parametrize(
    ("hue", "saturation", "value"),
    [(0.1, 0.15, 0.7), (0.6, 0.2, 0.95), (0.35, 0.3, 0.6), (0.85, 0.45, 0.8)],
)
def test_pale_box_sides_snap_to_a_fraction_of_a_pixel(hue, saturation, value):
    box = (70, 50, 190, 130)
    image = road(seed=2)
    paint(image, box, hsv_bgr(hue, saturation, value), shading=0.85)
    image = through_420(image)
    guess = np.array(box, np.float32) + np.array([6.0, -5.0, -8.0, 4.0])  # the network's few pixels
    (snapped,) = snap_edges(image, guess[None])
    np.testing.assert_allclose(snapped, box, atol=0.75)


def twins(first, second, bgr, brightness=0.8, shading=1.0):
    """Two touching boxes of one hue, the second ``brightness`` times the first."""
    image = road(seed=3)
    paint(image, first, bgr, shading)
    paint(image, second, tuple(c * brightness for c in bgr), shading)
    return through_420(image)


@pytest.mark.parametrize(
    ("first", "second", "bgr"),
    [
        ((40, 60, 130, 140), (130, 72, 210, 130), (40, 90, 220)),  # side by side, saturated
        ((90, 30, 200, 100), (80, 100, 180, 200), hsv_bgr(0.55, 0.25, 0.9)),  # one above, pale
    ],
)
def test_two_touching_boxes_of_one_hue_with_a_seam_give_two_boxes(first, second, bgr):
    image = twins(first, second, bgr)
    pair = np.array([first, second], np.float32)
    union = np.concatenate([pair[:, :2].min(axis=0), pair[:, 2:].max(axis=0)])[None]
    boxes, source = split_at_seams(image, snap_edges(image, union))
    assert len(boxes) == 2 and list(source) == [0, 0]
    np.testing.assert_allclose(boxes, [first, second], atol=1.1)


def test_each_of_two_touching_boxes_snaps_to_the_seam():
    first, second = (40, 60, 130, 140), (130, 60, 200, 140)
    image = twins(first, second, hsv_bgr(0.0, 0.3, 0.85), brightness=0.85)
    guess = np.array([[44, 58, 141, 143], [121, 63, 203, 138]], np.float32)  # over the seam
    np.testing.assert_allclose(snap_edges(image, guess), [first, second], atol=0.75)


def test_no_seam_no_split():
    # One shaded box, a pair of one colour with no step between them (one box in the image),
    # and a box partly hidden by another of a different hue (one object's box covers both).
    shaded = road()
    paint(shaded, (40, 40, 260, 200), (200, 120, 30), shading=0.75)
    seamless = twins((40, 60, 130, 140), (130, 60, 210, 140), (40, 90, 220), brightness=1.0)
    occluded = road()
    paint(occluded, (40, 40, 200, 180), (30, 200, 220))
    paint(occluded, (120, 80, 220, 200), (220, 60, 60))
    for image, box in (
        (shaded, (40, 40, 260, 200)),
        (seamless, (40, 60, 210, 140)),
        (occluded, (40, 40, 200, 180)),
    ):
        boxes, source = split_at_seams(image, np.array([box], np.float32))
        np.testing.assert_array_equal(boxes, [box])
        assert list(source) == [0]


def test_saturated_box_is_found_as_before():
    box = (201, 33, 263, 59)
    image = road()
    paint(image, box, (20, 60, 230), shading=0.8)
    image = through_420(image)
    boxes, _ = split_at_seams(image, snap_edges(image, np.array([[198, 36, 265, 57]], np.float32)))
    np.testing.assert_allclose(boxes, [box], atol=1.1)
