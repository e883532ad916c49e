"""``distribute="mirrored"``: training under tf.distribute.MirroredStrategy.

There is no GPU here, so a child process splits the CPU into two logical
devices and makes the strategy mirror over them: the same code path as two
GPUs (variables mirrored, batches split between two replicas, gradients
all-reduced), just slower.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from skimage import data
    from skimage.color import rgb2lab
    from skimage.transform import rescale

    import napari_colorize as nc
    from napari_colorize.methods import keras_ops

    made = []
    real = tf.distribute.MirroredStrategy

    def two_cpus(*args, **kwargs):
        s = real(devices=["/cpu:0", "/cpu:1"])
        made.append(s)
        return s

    tf.distribute.MirroredStrategy = two_cpus
    keras_ops.visible_gpus = lambda: 2  # as on a machine with two GPUs

    rgb = rescale(data.coffee(), 0.25, channel_axis=-1, anti_aliasing=True)
    L = rgb2lab(rgb)[..., 0]
    recipes = {
        "window": {"window": 7, "n_colors": 8, "epochs": 1, "samples_per_epoch": 2048, "batch_size": 256},
        "autoencoder": {
            "epochs": 1, "steps_per_epoch": 2, "crop_size": 32, "input_size": 32, "batch_size": 4
        },
        "eccv16": {"width": 0.125, "epochs": 1, "steps_per_epoch": 2, "crop_size": 32, "input_size": 32,
                   "batch_size": 4, "val_split": 0.0},
    }
    out = {}
    for method, cfg in recipes.items():
        m = nc.train(method, [rgb], config={**cfg, "distribute": "mirrored"})
        ab = m.predict_ab(L)
        finite = bool(np.all(np.isfinite(ab)))
        out[method] = {"loss": m.history["loss"], "finite": finite, "shape": list(ab.shape)}
    out["replicas"] = [s.num_replicas_in_sync for s in made]
    print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.slow
def test_training_under_a_two_replica_mirrored_strategy(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    r = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(next(line for line in r.stdout.splitlines() if line.startswith("RESULT "))[7:])
    # one strategy for the process, with two replicas, used by every Keras method
    assert res.pop("replicas") == [2]
    for method, got in res.items():
        assert got["finite"] and got["shape"][-1] == 2, method
        assert len(got["loss"]) == 1 and got["loss"][0] > 0, method


def test_default_strategy_without_several_gpus():
    import tensorflow as tf

    from napari_colorize.methods.keras_ops import distribution_scope

    for name in ("default", "mirrored"):  # no GPUs here: both fall back to the default strategy
        with distribution_scope(name) as strategy:
            assert strategy is tf.distribute.get_strategy()
            assert strategy.num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="unknown distribute"):
        distribution_scope("tpu")
