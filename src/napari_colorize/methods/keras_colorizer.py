"""The base of every Keras method: build, compile, fit, resume and save one network.

A neural method is one :class:`KerasColorizer` subclass with its config, its
network (:meth:`KerasColorizer._build_net`), its loss (given to
:meth:`KerasColorizer._compile`) and its inference
(:meth:`KerasColorizer._predict_ab`).  The base owns:

- building the network once, seeded with ``config.seed``, inside the
  distribution scope (:func:`napari_colorize.methods.keras_ops.distribution_scope`) and under the
  training dtype policy of ``config.precision`` (:func:`napari_colorize.methods.keras_ops.precision_scope`:
  float32, or mixed precision with float32 weights, so a model folder
  loads whatever precision it was trained in);
- the network inference runs (:meth:`KerasColorizer._inference_net`): the
  same one, or for ``precision="bfloat16"`` (and ``"auto"`` on a CPU with
  native bfloat16, for a method whose quality check passed:
  :attr:`KerasColorizer.bfloat16_checked`) a copy in bfloat16 made from its
  weights (:func:`napari_colorize.methods.keras_ops.keras_policy`);
- the structural config (``structural_fields``): the fields that fix the
  network's weights, checked in one place (:meth:`KerasColorizer._ensure_net`)
  whenever a built or loaded network is used with a changed config (resume,
  ``--init``);
- fitting with callbacks (:meth:`KerasColorizer._fit_net`): one seed per fit,
  the optimizer's state restored on resume, the history as plain floats, and
  the bookkeeping in ``info`` (``fits``, ``epochs_done``);
- the optimizer's state in the model folder (``optimizer.npz``);
- for a method whose model folder holds just its network's weights, that file
  (:attr:`KerasColorizer.weights_file`, written and read by
  :meth:`KerasColorizer._save_weights` and :meth:`KerasColorizer._load_weights`).

Everything here is written in ``keras`` and ``keras.ops``; this module does
not import Keras at import time (the napari process must not import
TensorFlow), the method modules import Keras lazily.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError, ModelFolderError
from .colorizer import Colorizer

__all__ = ["KerasColorizer", "CropBatches", "OPTIMIZER_FILE", "save_optimizer_state", "load_optimizer_state"]

#: file of a model folder that holds the optimizer's state (for ``resume``)
OPTIMIZER_FILE = "optimizer.npz"

#: seeds of successive fits of one model differ by this much (a resumed run sees new samples)
_SEED_STRIDE = 7919


@dataclasses.dataclass(frozen=True)
class CropBatches:
    """The random-crop batches of one fit (:meth:`KerasColorizer._crop_batches`)."""

    #: endless (L, ab) crop batches for training, and for validation (None without ``val_split``)
    train: Any
    val: Any
    #: the training images (the split by ``config.seed``)
    train_sources: list[Any]
    #: gradient steps per epoch: ``steps_per_epoch``, or the training crops / ``batch_size``
    steps: int
    #: validation steps (None without validation)
    val_steps: int | None
    #: the seed of this fit's data (:meth:`KerasColorizer._fit_seed`)
    seed: int


class KerasColorizer(Colorizer):
    """A method whose model is one Keras network (see the module docstring)."""

    #: config fields that fix the network's weights: they cannot change on an existing model
    structural_fields: ClassVar[tuple[str, ...]] = ()
    #: bfloat16 inference keeps this method's colours within the quality bound (CIEDE2000 within
    #: 0.3 of float32 on the bundled photos, ``benchmarks/bfloat16.py``): ``precision="auto"``
    #: may choose it.  A method that infers through :meth:`_inference_net` and passed sets it.
    bfloat16_checked: ClassVar[bool] = False
    #: the model folder's file of the network's weights, for a method whose folder holds just
    #: those (the base's :meth:`_save_weights` and :meth:`_load_weights`); "" for one that
    #: writes its own
    weights_file: ClassVar[str] = ""

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._net: Any = None
        #: :meth:`structure` of the config the network was built with
        self._built: dict[str, Any] | None = None
        #: dtype policy the network was built under
        self._built_precision: str | None = None
        self._compiled_key: Any = None
        #: (policy, network) inference runs when its policy differs from the built one's
        self._infer_net: tuple[str, Any] | None = None
        #: optimizer state read from a model folder, applied by the next fit (resume)
        self._optimizer_state: list[np.ndarray] | None = None
        self.history: dict[str, list[float]] = {}

    # -- the network ---------------------------------------------------------
    @abstractmethod
    def _build_net(self, *, for_loading: bool = False) -> Any:
        """A new Keras network for the current config (``for_loading``: weights come from a folder)."""

    def _reset_inference(self) -> None:
        """Drop what depends on the network's weights (compiled inference); called when they change."""

    @property
    def keras_model(self) -> Any:
        """The Keras network (built on first use); what it maps is the method's (its class docs)."""
        return self._ensure_net()

    def structure(self) -> dict[str, Any]:
        """The values of :attr:`structural_fields` (override to derive them)."""
        return {k: getattr(self.config, k) for k in self.structural_fields}

    def _ensure_net(self, *, for_loading: bool = False) -> Any:
        """The network, built on first use; refuses a config whose structure changed since.

        A changed ``precision`` builds the network again under the new (training)
        dtype policy with the same (float32) weights.
        """
        if self._net is not None:
            now = self.structure()
            if self._built is not None and now != self._built:
                changed = sorted(k for k in now if now[k] != self._built.get(k))
                raise ConfigError(
                    f"{self.name}: cannot change {', '.join(changed)} of an existing model "
                    f"(was {', '.join(f'{k}={self._built.get(k)!r}' for k in changed)}): "
                    "these fix its architecture; train a new model instead"
                )
            if self._built_precision == self._policy(training=True):
                return self._net
            weights = self._net.get_weights()
            self._net = None
            net = self._ensure_net(for_loading=True)
            net.set_weights(weights)
            return net
        import keras

        from .keras_ops import distribution_scope, precision_scope

        keras.utils.set_random_seed(int(self.config.seed))
        policy = self._policy(training=True)
        with distribution_scope(self.config.distribute), precision_scope(policy):
            self._net = self._build_net(for_loading=for_loading)
        self._built = self.structure()
        self._built_precision = policy
        self._compiled_key = None
        self._infer_net = None
        self._reset_inference()
        return self._net

    def _precision(self) -> str:
        """The config's ``precision`` (float32 for a config without one)."""
        return str(getattr(self.config, "precision", "float32"))

    def _policy(self, *, training: bool) -> str:
        """The Keras dtype policy of ``config.precision`` for training or inference.

        For inference, ``auto`` gives float32 unless this method's bfloat16 quality
        check passed (:attr:`bfloat16_checked`).
        """
        from .keras_ops import keras_policy

        precision = self._precision()
        if not training and precision == "auto" and not self.bfloat16_checked:
            return keras_policy("float32", training=False)
        return keras_policy(precision, training=training)

    def _inference_net(self) -> Any:
        """The network to infer with: the built one, or its copy under the inference policy.

        With ``precision="bfloat16"`` (or ``"auto"`` choosing it) the copy holds
        the weights in bfloat16; it is made once and dropped whenever the
        weights change through this class (a fit, a load, a rebuild).
        """
        net = self._ensure_net()
        policy = self._policy(training=False)
        if policy == self._built_precision:
            return net
        if self._infer_net is None or self._infer_net[0] != policy:
            from .keras_ops import precision_scope

            with precision_scope(policy):
                copy = self._build_net(for_loading=True)
            copy.set_weights(net.get_weights())
            self._infer_net = (policy, copy)
        return self._infer_net[1]

    def _precision_scope(self) -> Any:
        """The dtype policy scope of ``config.precision``, for networks built outside :meth:`_ensure_net`."""
        from .keras_ops import precision_scope

        return precision_scope(self._policy(training=True))

    def _adopt_net(self, other: KerasColorizer) -> None:
        """Share ``other``'s built network (same structure), e.g. to compare inference options."""
        self._net, self._built, self._compiled_key = other._net, dict(other._built or {}), None
        self._built_precision = other._built_precision
        self._infer_net = None
        self._reset_inference()

    # -- training ------------------------------------------------------------
    def _fit_seed(self) -> int:
        """The seed of this fit's data: ``seed``, then a new one per resumed fit."""
        return int(self.config.seed) + _SEED_STRIDE * int(self.info.get("fits", 0))

    def _fit_epochs(self, epochs: int | None, options: dict[str, Any]) -> int:
        """The epochs of this fit (``config.epochs`` when None); rejects unknown fit ``options``."""
        if options:
            raise ConfigError(f"{self.name}.fit: unknown options {', '.join(sorted(options))}")
        epochs = self.config.epochs if epochs is None else int(epochs)
        if epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {epochs}")
        return epochs

    def _crop_batches(self, data: Any) -> CropBatches:
        """Random crops of ``data`` in batches, and the steps per epoch (a :class:`CropBatches`).

        Uses the config's ``crop_size``, ``batch_size``, ``val_split``,
        ``crops_per_image`` and ``steps_per_epoch``
        (:class:`napari_colorize.config.CropTrainConfig`); the crops come from
        :func:`napari_colorize.data.make_dataset`, seeded with :meth:`_fit_seed`.
        """
        from ..data import as_sources, make_dataset, split_sources

        cfg = self.config
        sources = as_sources(data)
        train_src, val_src = split_sources(sources, cfg.val_split, seed=cfg.seed)
        seed = self._fit_seed()
        train, val = make_dataset(
            sources,
            crop_size=cfg.crop_size,
            batch_size=cfg.batch_size,
            val_split=cfg.val_split,
            crops_per_image=cfg.crops_per_image,
            seed=seed,
            repeat=True,
        )

        def steps(n_images: int) -> int:
            return max(1, math.ceil(n_images * cfg.crops_per_image / cfg.batch_size))

        return CropBatches(
            train=train,
            val=val,
            train_sources=train_src,
            steps=cfg.steps_per_epoch or steps(len(train_src)),
            val_steps=None if val is None else steps(len(val_src)),
            seed=seed,
        )

    def _compile(self, net: Any, *, loss: Any, metrics: Sequence[Any] | None = None, key: Any = None) -> None:
        """Compile ``net`` with Adam (``config.learning_rate``) in the distribution scope.

        ``key`` names what the compile depends on: the network is compiled again
        only when it changes (None: always), so fits in one session keep their optimizer.
        """
        import keras

        from .keras_ops import distribution_scope

        full_key = (self.config.learning_rate, key)
        if key is not None and full_key == self._compiled_key and getattr(net, "optimizer", None) is not None:
            return
        with distribution_scope(self.config.distribute):
            net.compile(
                optimizer=keras.optimizers.Adam(self.config.learning_rate, **self._adam_options()),
                loss=loss,
                metrics=list(metrics or []),
            )
        self._compiled_key = full_key

    def _adam_options(self) -> dict[str, Any]:
        """Extra Adam options of the method (e.g. ``beta_2``)."""
        return {}

    def _fit_net(
        self,
        net: Any,
        train: Iterable[Any],
        *,
        epochs: int,
        steps_per_epoch: int,
        validation: Any = None,
        validation_steps: int | None = None,
        callbacks: Sequence[Any] | None = None,
        verbose: int = 0,
    ) -> dict[str, list[float]]:
        """``net.fit`` on batches from a generator; records history and bookkeeping.

        The optimizer's state loaded with the model folder is restored first
        (once).  Returns the history of this fit as plain floats.
        """
        if epochs < 1 or steps_per_epoch < 1:
            raise ConfigError(f"epochs and steps per epoch must be >= 1, got {epochs} and {steps_per_epoch}")
        restore_optimizer_state(net, self._take_optimizer_state(), self.config.distribute)
        hist = net.fit(
            train,
            epochs=int(epochs),
            steps_per_epoch=int(steps_per_epoch),
            validation_data=validation,
            validation_steps=validation_steps,
            callbacks=list(callbacks or []),
            verbose=verbose,
            shuffle=False,  # the batches are shuffled already
        )
        history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
        ran = len(history.get("loss", []))
        info = self.info
        info["fits"] = int(info.get("fits", 0)) + 1
        info["epochs_done"] = int(info.get("epochs_done", info.get("epochs_trained", 0))) + ran
        info.pop("epochs_trained", None)
        self.trained = self.trained or ran > 0
        self.history = history
        self._infer_net = None
        self._reset_inference()
        return history

    def _fit_crops(
        self,
        net: Any,
        batches: CropBatches,
        inputs: Callable[[Any], Iterable[Any]],
        *,
        epochs: int,
        callbacks: Sequence[Any] | None = None,
        verbose: int = 0,
        val_inputs: Callable[[Any], Iterable[Any]] | None = None,
    ) -> dict[str, list[float]]:
        """:meth:`_fit_net` on the random-crop batches of :meth:`_crop_batches`.

        ``inputs(stream)`` turns a stream of (L, ab) crop batches into the network's batches;
        ``val_inputs`` does it for the validation stream (``inputs`` by default).  The steps
        per epoch and the validation steps are the batches' own.
        """
        val_inputs = inputs if val_inputs is None else val_inputs
        return self._fit_net(
            net,
            inputs(batches.train),
            epochs=epochs,
            steps_per_epoch=batches.steps,
            validation=None if batches.val is None else val_inputs(batches.val),
            validation_steps=batches.val_steps,
            callbacks=callbacks,
            verbose=verbose,
        )

    # -- model folders -------------------------------------------------------
    def _weights_path(self, folder: Path) -> Path:
        if not self.weights_file:
            raise NotImplementedError(
                f"{type(self).__name__} names no weights_file: it saves its own weights"
            )
        return Path(folder) / self.weights_file

    def _save_weights(self, folder: Path) -> None:
        """Write the network's weights to :attr:`weights_file` in ``folder``."""
        self._ensure_net().save_weights(str(self._weights_path(folder)))

    def _load_weights(self, folder: Path) -> None:
        """Build the network anew and read its weights from :attr:`weights_file` in ``folder``."""
        weights_file = self._weights_path(folder)
        if not weights_file.is_file():
            raise ModelFolderError(
                f"{folder} is not a complete {self.name} model: {self.weights_file} is missing"
            )
        self._net = None
        self._ensure_net(for_loading=True).load_weights(str(weights_file))

    # -- optimizer state -----------------------------------------------------
    def forget_optimizer_state(self) -> None:
        self._optimizer_state = None

    def _take_optimizer_state(self) -> list[np.ndarray] | None:
        """The optimizer state loaded with the model folder (None if none), handed over once."""
        state, self._optimizer_state = self._optimizer_state, None
        return state

    def _save_extra(self, folder: Path, *, optimizer: bool) -> None:
        if optimizer and self._net is not None:
            save_optimizer_state(self._net, folder)

    def _load_extra(self, folder: Path) -> None:
        self._optimizer_state = load_optimizer_state(folder)


def _state_variables(optimizer: Any) -> list[Any]:
    # the learning rate comes from the config, so a resumed run may change it
    return [v for v in optimizer.variables if not v.path.endswith("learning_rate")]


def save_optimizer_state(net: Any, folder: str | Path) -> bool:
    """Write ``net.optimizer``'s variables (Adam's step count and moments) to ``folder``.

    Returns False, writing nothing, when the network has no built optimizer.
    """
    import keras

    opt = getattr(net, "optimizer", None)
    if opt is None or not getattr(opt, "built", False):
        return False
    variables = _state_variables(opt)
    arrays = {f"v{i}": np.asarray(keras.ops.convert_to_numpy(v)) for i, v in enumerate(variables)}
    arrays["paths"] = np.array([v.path for v in variables])
    with open(Path(folder) / OPTIMIZER_FILE, "wb") as f:
        np.savez(f, **arrays)
    return True


def load_optimizer_state(folder: str | Path) -> list[np.ndarray] | None:
    """The arrays :func:`save_optimizer_state` wrote, or None (missing or unreadable: a warning)."""
    f = Path(folder) / OPTIMIZER_FILE
    if not f.is_file():
        return None
    try:
        with np.load(f, allow_pickle=False) as z:
            n = len(z["paths"])
            return [z[f"v{i}"] for i in range(n)]
    except Exception as e:  # noqa: BLE001 - optional state: a fresh optimizer is a safe fallback
        warnings.warn(
            f"{f} is unreadable ({type(e).__name__}); training resumes with a fresh optimizer",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def restore_optimizer_state(net: Any, arrays: list[np.ndarray] | None, distribute: str = "default") -> bool:
    """Build ``net.optimizer`` and load ``arrays`` into it, when they fit its variables.

    When they do not (another set of trainable layers, another optimizer), a
    warning says so and the optimizer starts fresh.  Returns whether the state was restored.
    """
    if arrays is None:
        return False
    from .keras_ops import distribution_scope

    opt = net.optimizer
    with distribution_scope(distribute):
        if not opt.built:
            opt.build(net.trainable_variables)
    variables = _state_variables(opt)
    if len(variables) != len(arrays) or any(tuple(v.shape) != a.shape for v, a in zip(variables, arrays)):
        warnings.warn(
            "the saved optimizer state does not fit the network being trained (other trainable "
            "layers?); training continues with a fresh optimizer",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    for v, a in zip(variables, arrays):
        v.assign(a.astype(v.dtype))
    return True


def freeze_below(model: Any, block: str | None, *, block_names: Sequence[str], block_of: Any) -> None:
    """Freeze every layer of ``model`` in a block below ``block`` (None: train everything).

    ``block_names`` lists a network's blocks from input to output and ``block_of(layer_name)``
    names a layer's block (None for layers outside every block, which are left as they are).
    A frozen BatchNorm runs in inference mode (Keras 3).
    """
    start = 0 if block is None else list(block_names).index(block)
    for layer in model.layers:
        b = block_of(layer.name)
        if b is not None:
            layer.trainable = list(block_names).index(b) >= start
