"""Property-based: random malformed detection files and configs give a clear error (file and
line, or the dotted config key), never another exception or a traceback."""

from __future__ import annotations

import re
import string
import tempfile
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import pointrcnn_line
from tracker.cli import main
from tracker.config import ConfigError, load_config
from tracker.formats import FormatError, read_kitti_labels, read_mot, read_pointrcnn

READERS = {
    "mot_det": lambda p: read_mot(p, "det"),
    "mot_gt": lambda p: read_mot(p, "gt"),
    "kitti": read_kitti_labels,
    "pointrcnn": read_pointrcnn,
}
VALID_LINES = {
    "mot_det": "1,-1,10,20,30,40,0.9",
    "mot_gt": "1,3,10,20,30,40,1,1,1.0",
    "kitti": "0 1 Car 0 0 -10 10.0 20.0 40.0 60.0 1.5 1.6 3.9 0 0 10 0",
    "pointrcnn": pointrcnn_line(0, 2, (10, 20, 40, 60), 3.0).strip(),
}

FIELD = st.one_of(
    st.sampled_from(["0", "1", "-1", "1e400", "nan", "inf", "-inf", "3.5", "Car", "DontCare", "", " "]),
    st.text(alphabet=string.digits + "-.,e x", max_size=8),
    st.text(max_size=6),
)


@st.composite
def malformed_file(draw, kind: str) -> bytes:
    """Valid lines mixed with broken ones: wrong counts, bad numbers, stray bytes."""
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            lines.append(VALID_LINES[kind].encode())
        elif choice == 1:  # a valid line with some fields replaced
            sep = " " if kind == "kitti" else ","
            fields = VALID_LINES[kind].split(sep)
            for _ in range(draw(st.integers(1, 3))):
                fields[draw(st.integers(0, len(fields) - 1))] = draw(FIELD)
            lines.append(sep.join(fields).encode("utf-8", "surrogatepass"))
        elif choice == 2:
            lines.append(draw(st.binary(max_size=40)).replace(b"\n", b""))
        else:
            sep = " " if kind == "kitti" else ","
            lines.append(sep.join(draw(st.lists(FIELD, max_size=20))).encode("utf-8", "surrogatepass"))
    return b"\n".join(lines) + b"\n"


def _check_reader(kind: str, content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "boxes.txt"
        path.write_bytes(content)
        try:
            table = READERS[kind](path)
        except FormatError as exc:
            assert re.match(rf"{re.escape(str(path))}:\d+: \S", str(exc)), str(exc)
            return
        assert len(table.frame) == len(table.xyxy)
        assert (table.xyxy[:, 2:] >= table.xyxy[:, :2]).all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_detection_and_label_readers_fail_only_with_file_and_line(data):
    kind = data.draw(st.sampled_from(sorted(READERS)))
    _check_reader(kind, data.draw(malformed_file(kind)))


CONFIG_KEYS = {
    "tracker": ["frame_rate", "motion", "association", "lifecycle", "per_class", "class_groups", "bogus"],
    "detector": ["kind", "device", "score_threshold", "threads", "classes", "nope"],
    "pipeline": ["queue_size", "batch_size", "live_policy", "camera_motion", "reconnect_budget_s"],
    "render": ["future_s", "thickness", "labels"],
}
VALUE = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=8),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["kind", "max_cost", "x"]), inner, max_size=3),
    ),
    max_leaves=6,
)


@st.composite
def config_text(draw) -> str:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(max_size=60))  # not even YAML, or YAML of the wrong shape
    raw = {}
    for section in draw(st.lists(st.sampled_from(sorted(CONFIG_KEYS) + ["extra"]), max_size=3, unique=True)):
        keys = CONFIG_KEYS.get(section, ["a"])
        raw[section] = draw(st.dictionaries(st.sampled_from(keys), VALUE, max_size=3))
    return yaml.safe_dump(raw)


@settings(max_examples=150, deadline=None)
@given(text=config_text())
def test_configs_fail_only_with_config_errors(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(text)
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(exc) and "\n" not in str(exc)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=malformed_file("pointrcnn"), config=config_text())
def test_cli_eval_on_malformed_detections_and_configs_is_one_line(tiny_kitti, content, config):
    det = tiny_kitti / "det_pointrcnn" / "car" / "0000.txt"
    original = det.read_bytes()
    cfg = tiny_kitti / "random.yaml"
    cfg.write_text(config)
    try:
        det.write_bytes(content)
        with tempfile.TemporaryDirectory() as out:
            args = ["eval", str(tiny_kitti), "--format", "kitti", "--results-out", out, "--config", str(cfg)]
            result = CliRunner().invoke(main, args)
    finally:
        det.write_bytes(original)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code != 0:
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
