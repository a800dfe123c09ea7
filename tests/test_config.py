import pytest

from tracker.config import ConfigError, config_from_dict, diff_from_default, load_config


def test_defaults_and_shipped_configs_load(tmp_path):
    from tests.conftest import ROOT

    assert load_config().tracker.motion.kind == "kalman"
    for name in ("default.yaml", "kitti.yaml"):
        load_config(ROOT / "configs" / name)


def test_unknown_key_names_the_dotted_path():
    with pytest.raises(ConfigError, match="unknown config key 'tracker.lifecycle.max_lost'"):
        config_from_dict({"tracker": {"lifecycle": {"max_lost": 3}}})


@pytest.mark.parametrize(
    "raw,key",
    [
        ({"tracker": {"lifecycle": {"min_hits": "two"}}}, "tracker.lifecycle.min_hits"),
        ({"tracker": {"lifecycle": {"min_hits": 2.5}}}, "tracker.lifecycle.min_hits"),
        ({"tracker": {"association": {"cost": "l2"}}}, "tracker.association.cost"),
        ({"tracker": {"motion": {"std_measurement": -1}}}, "tracker.motion.std_measurement"),
        ({"tracker": {"lifecycle": True}}, "tracker.lifecycle"),
        ({"tracker": {"association": {"spread_gate": -1}}}, "tracker.association.spread_gate"),
        ({"tracker": {"class_groups": "car"}}, "tracker.class_groups"),
        ({"encoder": {"preset": "fastest"}}, "encoder.preset"),
        ({"encoder": {"crf": 60}}, "encoder.crf"),
        ({"encoder": {"tune": "fastdecode,lowlatency"}}, "encoder.tune"),
        ({"run": {"codec_thread_nice": 20}}, "run.codec_thread_nice"),
        ({"source": {"live_policy": "oldest"}}, "source.live_policy"),
        ({"camera_motion": {"enabled": "yes"}}, "camera_motion.enabled"),
    ],
)
def test_wrong_types_and_values_name_the_key(raw, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_from_dict(raw)


def test_set_overrides_and_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("tracker:\n  lifecycle:\n    min_hits: 3\n")
    config = load_config(path, ["tracker.lifecycle.max_lost_s=1.5", "tracker.association.cost=iou"])
    assert config.tracker.lifecycle.min_hits == 3
    assert config.tracker.lifecycle.max_lost_s == 1.5
    assert config.tracker.association.cost == "iou"
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(None, ["tracker.lifecycle.min_hits"])
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.yaml")


def test_per_class_overrides_inherit_the_rest():
    config = config_from_dict(
        {
            "tracker": {
                "lifecycle": {"min_hits": 3},
                "per_class": {"pedestrian": {"lifecycle": {"max_lost_s": 9}}},
            }
        }
    ).tracker
    ped = config.for_class("person_sitting")  # same group as pedestrian
    assert ped.lifecycle.max_lost_s == 9 and ped.lifecycle.min_hits == 3
    assert config.for_class("car") is config
    diff = diff_from_default(
        config_from_dict({"tracker": {"per_class": {"pedestrian": {"lifecycle": {"max_lost_s": 9}}}}})
    )
    assert diff == {"tracker": {"per_class": {"pedestrian": {"lifecycle": {"max_lost_s": 9.0}}}}}


@pytest.mark.parametrize(
    "old,new",
    [
        ("pipeline.camera_motion=false", "camera_motion.enabled"),
        ("pipeline.encoder_preset=medium", "encoder.preset"),
        ("pipeline.threaded=false", "run.threaded"),
        ("pipeline.live_policy=every", "source.live_policy"),
    ],
)
def test_an_old_key_names_its_new_one(old, new, tmp_path):
    message = f"config key '{old.split('=')[0]}' is now '{new}'"
    with pytest.raises(ConfigError, match=message):
        load_config(None, [old])
    section, rest = old.split(".")
    key, value = rest.split("=")
    path = tmp_path / "old.yaml"
    path.write_text(f"{section}:\n  {key}: {value}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    with pytest.raises(ConfigError, match="'pipeline' was split into run, encoder, source and camera_motion"):
        config_from_dict({"pipeline": {"no_such_key": 1}})


def test_every_section_is_a_stage():
    from tracker.config import Config

    assert [f for f in Config.__dataclass_fields__] == [
        "tracker",
        "detector",
        "source",
        "camera_motion",
        "render",
        "encoder",
        "run",
    ]


def test_a_section_is_replaced_with_python_values_checked_like_a_files():
    from tracker.config import replace_section

    config = replace_section(load_config(), "detector", classes=("on", "null", "car"))
    assert config.detector.classes == ("on", "null", "car")  # names, not YAML booleans or None
    with pytest.raises(ConfigError, match="detector.threads"):
        replace_section(config, "detector", threads=-1)
    with pytest.raises(ConfigError, match="unknown config key 'detector.colour'"):
        replace_section(config, "detector", colour="red")
