import dataclasses
import json
from typing import Literal

import pytest

from napari_colorize import methods
from napari_colorize.config import TrainConfig, config_fields
from napari_colorize.errors import ConfigError
from napari_colorize.methods import METHODS, get_config_class, get_method, list_methods


@dataclasses.dataclass(frozen=True, kw_only=True)
class Demo(TrainConfig):
    method = "demo"
    mode: Literal["a", "b"] = "a"
    box: tuple[int, ...] | None = None
    ratio: float = 0.5


def test_round_trip_json():
    c = Demo(epochs=3, mode="b", box=(1, 2, 3, 4), ratio=1)
    assert isinstance(c.ratio, float)
    c2 = Demo.from_json(c.to_json())
    assert c2 == c
    assert json.loads(c.to_json())["box"] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "data,msg",
    [
        ({"nope": 1}, "unknown config key 'nope'"),
        ({"mode": "c"}, "mode must be one of"),
        ({"epochs": "x"}, "epochs must be an integer"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"val_split": 1.0}, "val_split"),
        ({"epochs": True}, "integer"),
    ],
)
def test_invalid_configs_are_rejected_clearly(data, msg):
    with pytest.raises(ConfigError, match=msg):
        Demo.from_dict(data)


def test_replace_validates():
    c = Demo()
    assert c.replace(epochs=5).epochs == 5
    with pytest.raises(ConfigError):
        c.replace(epochs=-1)


def test_fields_describe_help_and_choices():
    fields = {f["name"]: f for f in config_fields(Demo)}
    assert fields["mode"]["choices"] == ["a", "b"]
    assert fields["epochs"]["help"]


def test_every_method_config_round_trips_with_defaults():
    for name in list_methods():
        cls = get_config_class(name)
        c = cls()
        assert cls.from_json(c.to_json()) == c
        assert cls.method == name
    assert "lookup" in list_methods()


def test_trainable_methods_share_the_common_keys():
    for name in list_methods():
        cls = get_config_class(name)
        if issubclass(cls, TrainConfig):
            names = {f.name for f in dataclasses.fields(cls)}
            assert {"epochs", "batch_size", "crop_size", "val_split"} <= names


def test_each_method_folder_registers_itself_once():
    """Each method is a package ``methods/<name>/`` whose ``COLORIZER`` names it; each package is listed."""
    from pathlib import Path

    for name in METHODS:
        cls = get_method(name)
        assert cls.name == name and cls.Config.method == name
        assert get_config_class(name) is cls.Config
    root = Path(methods.__file__).parent
    assert {p.name for p in root.iterdir() if (p / "__init__.py").is_file()} == set(METHODS)

