import cv2
import numpy as np
import pytest

from tracker.detect.refine import snap_edges


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
