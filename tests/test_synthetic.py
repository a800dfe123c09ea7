"""The synthetic video generator: it draws what its ground truth says."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import ROOT
from tracker.eval.synthetic import SynthConfig, SyntheticVideo

SHARED = ROOT.parent / "shared"
YOLOX = SHARED / "models" / "yolox_nano.onnx"
HIGHWAY = SHARED / "data" / "real" / "highway_720p.mp4"


def test_generator_follows_the_spec():
    config = SynthConfig(width=480, height=272, fps=12, num_frames=60, seed=11)
    frames = list(SyntheticVideo(config).frames())
    assert len(frames) == 60
    image, _ = frames[0]
    assert image.shape == (272, 480, 3) and image.dtype == np.uint8
    ids = set()
    for _, truth in frames:
        ids.update(truth.ids.tolist())
        assert ((truth.xyxy[:, 2:] - truth.xyxy[:, :2]) > 0).all()
        assert (truth.xyxy[:, [0, 2]] <= 480).all() and (truth.xyxy[:, [1, 3]] <= 272).all()
        assert ((truth.visibility >= 0) & (truth.visibility <= 1)).all()
    assert len(ids) >= 2
    again = [t.ids.tolist() for _, t in SyntheticVideo(config).frames()]
    assert again == [t.ids.tolist() for _, t in frames], "same seed, same video"
    with pytest.raises(ValueError, match="frame size"):
        SyntheticVideo(SynthConfig(width=100, height=100))
