"""Validated, JSON round-tripping configuration objects.

Each method has one :class:`Config` subclass, a frozen dataclass, and so do other
options (:class:`~napari_colorize.tiling.TilingOptions`).  Unknown keys are rejected,
values are type-checked and validated, and ``Config.from_dict(c.to_dict()) == c``
always holds.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, Literal, Self, TypeVar

from .errors import ConfigError

__all__ = [
    "Config",
    "TrainConfig",
    "CropTrainConfig",
    "Precision",
    "PRECISIONS",
    "parse_value",
    "config_fields",
]

def check_nonnegative(value: Any, name: str, *, meaning: str = "") -> float:
    """``value`` as a finite float >= 0 (booleans refused), else a ConfigError naming ``name``.

    ``meaning`` (e.g. ``"0 = gray, 1 = the model's"``) is added to the message in parentheses.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not (math.isfinite(number) and number >= 0):
        what = f" ({meaning})" if meaning else ""
        raise ConfigError(f"{name} must be a number >= 0{what}, got {value!r}")
    return number


C = TypeVar("C", bound="Config")

#: numeric precision of a Keras network: Keras dtype policy names, ``bfloat16`` (float32
#: training, bfloat16 inference) and ``auto`` (``bfloat16`` where the CPU computes it natively)
Precision = Literal["float32", "mixed_float16", "mixed_bfloat16", "bfloat16", "auto"]
PRECISIONS: tuple[str, ...] = typing.get_args(Precision)


def _check_type(name: str, value: Any, tp: Any) -> Any:
    """Coerce ``value`` to the annotated type ``tp`` or raise ConfigError."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(name, value, arg)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{name}: {value!r} is not any of {tp}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{name} must be one of {', '.join(map(repr, args))}; got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{name} must have {len(args)} items, got {value!r}")
            return tuple(_check_type(name, v, a) for v, a in zip(value, args))
        item = args[0] if args else Any
        return tuple(_check_type(name, v, item) for v in value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a mapping, got {value!r}")
        return dict(value)
    return value


def parse_value(text: str) -> Any:
    """Parse a ``key=value`` command-line value: JSON if it parses, else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        low = text.strip().lower()
        if low in ("true", "yes", "on"):
            return True
        if low in ("false", "no", "off"):
            return False
        if low in ("none", "null"):
            return None
        return text


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    """Base of every method's config.

    Subclasses are ``@dataclasses.dataclass(frozen=True, kw_only=True)`` with
    annotated fields and defaults, and may override :meth:`validate`.
    Field metadata ``help`` describes the field (shown by
    ``napari-colorize methods`` and the napari Train widget); field metadata
    ``check``, a function ``value -> value`` that raises :class:`ConfigError`,
    replaces the check of the annotated type for that field (its own messages,
    numpy scalars accepted, ...).
    """

    method: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            check: Callable[[Any], Any] | None = f.metadata.get("check")
            value = check(value) if check is not None else _check_type(f.name, value, hints[f.name])
            object.__setattr__(self, f.name, value)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for invalid values (override in subclasses)."""

    # -- dict / JSON ----------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any] | None = None, **overrides: Any) -> Self:
        """Build a config from a mapping, rejecting unknown keys."""
        data = {**(data or {}), **overrides}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise cls.unknown_keys_error(unknown)
        try:
            return cls(**data)
        except TypeError as e:  # pragma: no cover - dataclass signature errors
            raise ConfigError(str(e)) from None

    @classmethod
    def unknown_keys_error(cls, unknown: list[str]) -> ConfigError:
        """The error for the keys ``unknown`` (sorted) given to :meth:`from_dict`."""
        names = sorted(f.name for f in dataclasses.fields(cls))
        return ConfigError(
            f"unknown config key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"for method {cls.method!r}; valid keys: {', '.join(names)}"
        )

    @classmethod
    def coerce(cls: type[C], options: C | dict[str, Any] | None = None, **changes: Any) -> C:
        """``options`` (one of this class, a dict or None) as one of this class, ``changes`` on top."""
        if options is None or isinstance(options, dict):
            return cls.from_dict({**(options or {}), **changes})
        if not isinstance(options, cls):
            raise ConfigError(f"options must be {cls.__name__} or a dict, got {type(options).__name__}")
        return options.replace(**changes) if changes else options

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"config is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError("config JSON must be an object")
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> Self:
        """A copy with some values changed (validated, unknown keys rejected)."""
        return type(self).from_dict({**self.to_dict(), **changes})


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig(Config):
    """Keys shared by every method that trains."""

    epochs: int = dataclasses.field(default=10, metadata={"help": "passes over the training samples"})
    batch_size: int = dataclasses.field(default=16, metadata={"help": "samples per gradient step"})
    crop_size: int = dataclasses.field(
        default=128, metadata={"help": "side of the random training crops, px"}
    )
    val_split: float = dataclasses.field(
        default=0.1, metadata={"help": "fraction of images (or crops) held out"}
    )
    seed: int = dataclasses.field(default=0, metadata={"help": "random seed"})
    distribute: Literal["default", "mirrored"] = dataclasses.field(
        default="default",
        metadata={
            "help": "training strategy: 'mirrored' = data parallel over all GPUs "
            "(tf.distribute.MirroredStrategy on TensorFlow, keras.distribution.DataParallel on JAX)"
        },
    )
    precision: Precision = dataclasses.field(
        default="float32",
        metadata={
            "help": "numeric precision of training and inference: 'mixed_bfloat16' or 'mixed_float16' "
            "compute in 16 bits with float32 weights (faster on recent GPUs); 'bfloat16': float32 "
            "training, the network in bfloat16 at inference (several times faster on CPUs with "
            "AMX-BF16 or AVX512-BF16); 'auto': 'bfloat16' on such CPUs for methods whose quality "
            "check passed, else float32; saved weights stay float32"
        },
    )

    def validate(self) -> None:
        super().validate()
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.crop_size < 8:
            raise ConfigError(f"crop_size must be >= 8, got {self.crop_size}")
        if not 0.0 <= self.val_split < 1.0:
            raise ConfigError(f"val_split must be in [0, 1), got {self.val_split}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CropTrainConfig(TrainConfig):
    """Keys shared by the networks trained on random crops with frozen lower blocks.

    A subclass names its blocks (``block_names``, the choices of
    ``trainable_from``) and its total downsampling (``block_size``, which
    ``crop_size`` must be a multiple of).
    """

    #: the blocks ``trainable_from`` may name, lowest first
    block_names: ClassVar[tuple[str, ...]] = ()
    #: the network's total downsampling, px
    block_size: ClassVar[int] = 8

    trainable_from: str | None = dataclasses.field(
        default=None, metadata={"help": "train only this block and those above it; empty: all"}
    )
    learning_rate: float = dataclasses.field(default=1e-3, metadata={"help": "Adam learning rate"})
    crops_per_image: int = dataclasses.field(default=8, metadata={"help": "random crops per image per epoch"})
    steps_per_epoch: int | None = dataclasses.field(
        default=None, metadata={"help": "gradient steps per epoch (default: crops / batch_size)"}
    )
    crop_size: int = dataclasses.field(
        default=176,
        metadata={"help": "side of the random training crops, px (multiple of 8; the paper: 176)"},
    )

    def validate(self) -> None:
        super().validate()
        if self.crop_size % self.block_size:
            raise ConfigError(f"crop_size must be a multiple of {self.block_size}, got {self.crop_size}")
        if self.trainable_from is not None and self.trainable_from not in self.block_names:
            names = ", ".join(self.block_names)
            raise ConfigError(f"trainable_from must be one of {names}, got {self.trainable_from!r}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.crops_per_image < 1:
            raise ConfigError(f"crops_per_image must be >= 1, got {self.crops_per_image}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}")


def config_fields(cls: type[Config]) -> list[dict[str, Any]]:
    """Describe a config class's fields: name, type, default and help."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else (f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        )
        tp = hints[f.name]
        choices = None
        if typing.get_origin(tp) is typing.Literal:
            choices = list(typing.get_args(tp))
        out.append(
            {
                "name": f.name,
                "type": getattr(tp, "__name__", str(tp)).replace("typing.", ""),
                "default": list(default) if isinstance(default, tuple) else default,
                "choices": choices,
                "help": f.metadata.get("help", ""),
            }
        )
    return out
