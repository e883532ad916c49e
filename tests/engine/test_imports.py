"""Importing the package and reading method configs never imports TensorFlow or napari."""

import subprocess
import sys
import textwrap


def test_import_and_list_methods_do_not_import_tensorflow_or_napari():
    code = textwrap.dedent(
        """
        import sys
        import napari_colorize as nc
        from napari_colorize.methods import get_config_class, METHODS
        methods = nc.list_methods()
        for name in methods:
            get_config_class(name)()
        bad = [m for m in ("tensorflow", "keras", "napari", "qtpy", "torch") if m in sys.modules]
        print("LOADED", bad, sorted(methods))
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "LOADED [] " in r.stdout, r.stdout
