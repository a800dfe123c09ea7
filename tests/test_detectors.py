"""Detectors: ONNX YOLOX and torchvision output conversion, the real highway clip."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import ROOT
from tracker import Detections
from tracker.source import Frame, open_source

SHARED = ROOT.parent / "shared"
YOLOX = SHARED / "models" / "yolox_nano.onnx"
HIGHWAY = SHARED / "data" / "real" / "highway_720p.mp4"


@pytest.mark.skipif(not YOLOX.is_file(), reason=f"shared model not found at {YOLOX}")
def test_onnx_yolox_output_conversion_and_highway(tmp_path):
    from tracker.detect import make_detector

    det = make_detector(f"onnx:{YOLOX}", threads=1)
    assert det.cpu_threads == 1, "on the CPU it says how many cores it keeps busy"
    frames = list(open_source(HIGHWAY))[:3]
    out = det.detect(frames)
    cars = out[0][(out[0].score > 0.5) & (np.array(det.class_names)[out[0].class_id] == "car")]
    assert len(cars) == 2
    assert ((cars.xyxy[:, 1] > 380) & (cars.xyxy[:, 3] < 520)).all()
    # decoding: one anchor at grid (0, 0), stride 8, exp(0) sizes -> an 8x8 box at (4, 4)
    raw = np.zeros((3549, 85), np.float32)
    raw[0, :4] = [0.5, 0.5, 0.0, 0.0]
    raw[0, 4] = 0.9
    raw[0, 5 + 2] = 1.0  # class car
    d = det.decode(raw, scale=0.5, image_hw=(720, 1280))
    np.testing.assert_allclose(d.xyxy, [[0, 0, 16, 16]])
    assert d.class_id.tolist() == [2] and d.score[0] == pytest.approx(0.9)
    # a stride-16 anchor (grid x 1, y 2) counts too; one whose objectness is under the
    # threshold does not, however sure its class is
    first16 = (416 // 8) ** 2
    raw[first16 + 2 * 26 + 1, :5] = [0.0, 0.0, np.log(2.0), 0.0, 0.8]
    raw[first16 + 2 * 26 + 1, 5 + 0] = 0.5  # person
    raw[5, 4], raw[5, 5 + 2] = det.score_threshold / 2, 1.0
    d = det.decode(raw, scale=1.0, image_hw=(720, 1280))
    np.testing.assert_allclose(d.xyxy, [[0, 0, 8, 8], [0, 24, 32, 40]], atol=1e-4)
    assert d.class_id.tolist() == [2, 0]
    np.testing.assert_allclose(d.score, [0.9, 0.4], rtol=1e-6)


def test_torchvision_output_conversion_with_random_weights():
    import torch

    from tracker.detect.torchvision_models import TorchvisionDetector

    det = TorchvisionDetector(
        "ssdlite320_mobilenet_v3_large", device="cpu", weights="none", score_threshold=0.3
    )
    out = det.convert(
        {
            "boxes": torch.tensor([[1.0, 2, 30, 40], [5, 5, 9, 9], [0, 0, 4, 4]]),
            "scores": torch.tensor([0.9, 0.2, 0.8]),
            "labels": torch.tensor([3, 3, 16]),
        }
    )  # car, car below threshold, bird
    assert out.xyxy.tolist() == [[1, 2, 30, 40]] and det.class_names[out.class_id[0]] == "car"
    frame = Frame(0, 0.0, np.zeros((120, 160, 3), np.uint8))
    (dets,) = det.detect([frame])
    assert isinstance(dets, Detections)
