"""Importing the package and reading method configs never imports TensorFlow or napari;
the napari plugin reaches no engine module through any chain of imports, the client reaches no
engine module, and neither the methods nor the engine reach the plugin (docs/architecture.md,
"What each part may import")."""

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import napari_colorize


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


# ---------------------------------------------------------------------------
# the plugin's static import graph
# ---------------------------------------------------------------------------
PACKAGE = "napari_colorize"
SRC = Path(napari_colorize.__file__).resolve().parent
#: the modules that import Keras: each method's network (and siggraph17_lite0's encoder) and the
#: methods' backend-specific Keras operations
KERAS_MODULES = r"methods\.keras_ops|methods\.\w+\.(network|efficientnet)"
#: what the napari process must never reach: the engine, the pipeline and the Keras modules
FORBIDDEN = re.compile(
    rf"napari_colorize\.(engine(\.\w+)?|pipeline|chain|tiff_stream|pyramid_files|{KERAS_MODULES})$"
)


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """The package modules that ``module`` imports: (at import time, anywhere incl. functions)."""
    is_pkg = path.name == "__init__.py"
    top: set[str] = set()
    anywhere: set[str] = set()

    def add(name: str, at_top: bool) -> None:
        if name in modules:
            (top if at_top else anywhere).add(name)

    def visit(node: ast.AST, at_top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue  # never executed
            inner = at_top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, inner)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_pkg else module.split(".")[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                subs = [f"{target}.{alias.name}" for alias in child.names]
                for sub in subs:
                    add(sub, inner)  # `from . import engine` imports a module
                if not all(sub in modules for sub in subs):
                    add(target, inner)  # names taken from `target` itself
            visit(child, inner)

    visit(ast.parse(path.read_text()), True)
    return top, top | anywhere


def _reach(start: str, modules: dict[str, Path]) -> dict[str, list[str]]:
    """Modules reached from ``start`` with the chain that reaches each.

    A module the plugin names (directly or through another named module) may have any of its
    functions called, so all its imports count; a parent package only runs its import-time code.
    """
    graph = {m: _imports(m, p, modules) for m, p in modules.items()}
    chains: dict[str, list[str]] = {}
    todo = [(start, True, [start])]
    seen: set[tuple[str, bool]] = set()
    while todo:
        mod, used, chain = todo.pop()
        if (mod, used) in seen:
            continue
        seen.add((mod, used))
        chains.setdefault(mod, chain)
        parts = mod.split(".")
        for i in range(1, len(parts)):
            todo.append((".".join(parts[:i]), False, [*chain, ".".join(parts[:i]) + " (package)"]))
        top, anywhere = graph[mod]
        for nxt in anywhere if used else top:
            todo.append((nxt, used, [*chain, nxt]))
    return chains


def test_plugin_reaches_no_engine_pipeline_or_keras_module():
    modules = _modules()
    plugin = [m for m in modules if m.startswith(f"{PACKAGE}._napari")]
    assert {f"{PACKAGE}._napari.{m}" for m in PLUGIN_WIDGETS + PLUGIN_SCRIPTED} <= set(plugin)
    assert f"{PACKAGE}.engine" in modules
    bad = {}
    for start in plugin:
        for mod, chain in _reach(start, modules).items():
            if FORBIDDEN.match(mod):
                bad[mod] = " -> ".join(chain)
    assert not bad, bad


#: the plugin's modules that build the dock widgets (magicgui, Qt) ...
PLUGIN_WIDGETS = (
    "_widget_parts",
    "_colorize_widget",
    "_model_choice",
    "_live_mode",
    "_train_widget",
    "_evaluate_widget",
)
#: ... and those that scripts use without a widget (they never reach a widget module)
PLUGIN_SCRIPTED = (
    "_colorize_layer",
    "_layer_request",
    "_slides",
    "_train_from_layers",
    "_evaluate_layers",
    "_fetch_model",
    "_hint_layers",
    "_layer_input",
    "_result_layers",
    "_task_runner",
    "_notifications",
    "_lifecycle",
    "_sample_data",
)

#: the engine: the napari process must never reach it, not even through the client
ENGINE = re.compile(
    r"napari_colorize\.(engine(\.\w+)?|pipeline|chain|tiff_stream|pyramid_files|methods\.\w+)$"
)
#: the napari plugin: only napari's process imports it
PLUGIN = re.compile(r"napari_colorize\._napari(\.\w+)?$")
#: the client side of the process boundary
CLIENT_MODULES = ("client", "worker_process", "protocol", "request")
#: the engine and what runs it in the engine process (server) or a dask worker (distributed)
ENGINE_MODULES = (
    "engine",
    "tiling",
    "chain",
    "pipeline",
    "tiff_stream",
    "pyramid_files",
    "api",
    "multiscale",
    "preview",
    "server",
    "distributed",
)
#: the modules of the engine package, lowest first: each imports only modules before it
ENGINE_PACKAGE = (
    "job",
    "predict",
    "tile_plan",
    "hint_points",
    "anchor",
    "tile_loop",
    "models",
    "smoothing",
    "confidence",
    "lazy",
    "remote",
    "entry",
)


def _violations(starts: list[str], forbidden: re.Pattern, modules: dict[str, Path]) -> dict[str, str]:
    """Forbidden modules reached from ``starts``, each with the chain of imports that reaches it."""
    missing = [m for m in starts if m not in modules]
    assert not missing, f"modules named by the rule are gone (update the rule): {missing}"
    bad = {}
    for start in starts:
        for mod, chain in _reach(start, modules).items():
            if forbidden.match(mod):
                bad.setdefault(mod, " -> ".join(chain))
    return bad


def test_client_reaches_no_engine_module():
    """The client (napari's side of the process boundary) never imports the engine, pipeline or methods."""
    modules = _modules()
    assert not _violations([f"{PACKAGE}.{m}" for m in CLIENT_MODULES], ENGINE, modules)


def test_methods_reach_no_plugin_module():
    modules = _modules()
    methods = sorted(m for m in modules if m == f"{PACKAGE}.methods" or m.startswith(f"{PACKAGE}.methods."))
    assert f"{PACKAGE}.methods.ddcolor" in methods
    assert not _violations(methods, PLUGIN, modules)


def test_method_configs_reach_no_keras_module():
    """A method's ``config.py`` reaches no Keras module through any chain (reading a config is cheap)."""
    from napari_colorize.methods import METHODS

    modules = _modules()
    configs = [f"{PACKAGE}.methods.{name}.config" for name in METHODS]
    assert not _violations(configs, re.compile(rf"napari_colorize\.({KERAS_MODULES})$"), modules)


def test_engine_reaches_no_plugin_module():
    modules = _modules()
    engine = [f"{PACKAGE}.engine.{m}" for m in ENGINE_PACKAGE]
    assert not _violations([f"{PACKAGE}.{m}" for m in ENGINE_MODULES] + engine, PLUGIN, modules)


def test_engine_package_modules_import_downward():
    """Each module of the engine package imports only those below it (no cycle, no climb back up).

    Every module of the package is named in the list, so that a new one is placed on its floor.
    """
    modules = _modules()
    package = f"{PACKAGE}.engine"
    found = {m.rsplit(".", 1)[-1] for m in modules if m.startswith(f"{package}.")}
    assert found == set(ENGINE_PACKAGE), "name each engine module in ENGINE_PACKAGE"
    for i, name in enumerate(ENGINE_PACKAGE):
        mod = f"{package}.{name}"
        inside = {
            m.rsplit(".", 1)[-1]
            for m in _imports(mod, modules[mod], modules)[1]
            if m.startswith(f"{package}.")
        }
        above = sorted(inside - set(ENGINE_PACKAGE[:i]))
        assert not above, f"{mod} imports {above}, which are not below it in ENGINE_PACKAGE"


def test_import_walker_sees_function_level_and_relative_imports():
    """The walker itself: a chain through a function-level import is found."""
    modules = _modules()
    reached = _reach(f"{PACKAGE}.api", modules)  # api.colorize imports the engine inside the function
    assert f"{PACKAGE}.engine" in reached
    assert f"{PACKAGE}.methods" in _reach(f"{PACKAGE}._napari._train_widget", modules)
    # the rules' patterns match what they forbid: `nc.colorize_layer` imports the plugin lazily
    assert any(PLUGIN.match(m) for m in _reach(PACKAGE, modules))
    assert any(ENGINE.match(m) for m in _reach(f"{PACKAGE}.server", modules))


def test_plugin_modules_do_not_import_each_other_both_ways():
    """The dock widgets build on the scripted helpers; no scripted helper reaches a widget.

    Every module of the plugin is named in one of the two lists, so that a new module is
    placed on its side of the rule (and covered by the rules above) when it is added.
    """
    modules = _modules()
    plugin = {m.rsplit(".", 1)[-1] for m in modules if m.startswith(f"{PACKAGE}._napari.")}
    assert plugin == set(PLUGIN_WIDGETS) | set(PLUGIN_SCRIPTED), "name each plugin module in a list"
    widgets = {f"{PACKAGE}._napari.{m}" for m in PLUGIN_WIDGETS}
    for name in PLUGIN_SCRIPTED:
        start = f"{PACKAGE}._napari.{name}"
        reached = sorted(m for m in _reach(start, modules) if m in widgets)
        assert not reached, f"{start} reaches the widgets {reached}"
    widget = f"{PACKAGE}._napari._colorize_widget"
    assert f"{PACKAGE}._napari._colorize_layer" in _imports(widget, modules[widget], modules)[1]
