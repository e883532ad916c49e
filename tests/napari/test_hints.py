"""Color hints in napari: Points layers, the Add hints layer button, live mode, intensity limits.

Runs in the napari pytest process (no TensorFlow).  Tests marked ``engine_stub`` replace the
engine worker by an in-process stand-in that paints each pixel with its nearest hint's chroma,
so that the plugin's side (points to hints, debouncing, planes, in-place updates) is tested
on its own; the others run the real engine.
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2hsv

from napari_colorize._napari import _colorize_layer, _hint_layers
from napari_colorize._napari._colorize_layer import colorize_layer
from napari_colorize._napari._colorize_widget import ColorizeWidget
from napari_colorize.catalogue import DEFAULT_MODEL
from napari_colorize.errors import InputError

pytestmark = pytest.mark.napari

RED = (1.0, 0.0, 0.0, 1.0)
BLUE = (0.0, 0.2, 1.0, 1.0)


def _hue(rgb_pixel) -> float:
    return float(rgb2hsv(np.asarray(rgb_pixel, dtype=np.float64).reshape(1, 1, 3) / 255.0)[0, 0, 0])


def _hint_hue(gray8: int, color) -> float:
    """The hue of a hint's chroma over the lightness of a gray value (what a colorizer should give)."""
    from napari_colorize.color import Lab2rgb, gray2L, rgb2lab

    L = gray2L(np.array([[gray8]], np.uint8))
    ab = rgb2lab(np.asarray(color, np.float32)[:3].reshape(1, 1, 3))[..., 1:]
    return _hue(np.round(Lab2rgb(L, ab) * 255))


def _hue_distance(h1: float, h2: float) -> float:
    d = abs(h1 - h2) % 1.0
    return min(d, 1.0 - d)


def _two_regions(h: int = 64, w: int = 96) -> np.ndarray:
    """A dark left half and a light right half (uint8)."""
    img = np.full((h, w), 90, np.uint8)
    img[:, w // 2 :] = 170
    return img


def request_keywords(request, hints, kw):
    """The hints and keywords of a stub's colorize: those of the ColorizeRequest the plugin sent
    (its points, or the hints beside it; its intensity options), on top of ``kw``."""
    if request is None:
        return hints, kw
    if hints is None:
        hints = request.points()
    intensity = dict(normalize=request.normalize, percentiles=request.percentiles, limits=request.limits)
    return hints, {**intensity, "saturation": request.saturation, **kw}


class StubWorker:
    """An engine worker stand-in: each pixel takes the chroma of its nearest hint.

    Records the arguments of each colorization in ``calls``.
    """

    def __init__(self, seconds: float = 0.0) -> None:
        self.calls: list[dict] = []
        self.stops = 0
        self.seconds = seconds  # how long each colorization takes (it honours stop)
        self._stop = False

    def iter_request(self, cmd, **kw):
        assert cmd == "describe"
        if False:  # a generator that yields nothing
            yield {}
        return {"method": "stub", "block_size": 1, "default_tile": 512, "default_overlap": 0}

    def iter_colorize(self, image, model=None, *, request=None, rgb=None, hints=None, **kw):
        import time

        from napari_colorize.color import Lab2rgb, gray2L, intensity_limits, rgb2lab
        from napari_colorize.errors import Cancelled

        hints, kw = request_keywords(request, hints, kw)
        image = np.asarray(image)
        self.calls.append({"image": image, "hints": None if hints is None else np.asarray(hints), **kw})
        self._stop = False
        t0, seconds = time.monotonic(), self.seconds
        yield {"id": 1, "event": "progress", "stage": "tiles", "done": 0, "total": 1}
        should_stop = kw.get("should_stop")
        while time.monotonic() - t0 < seconds:
            time.sleep(0.02)
            if self._stop or (should_stop is not None and should_stop()):
                raise Cancelled("colorize stopped")
        limits = intensity_limits(
            image,
            normalize=kw.get("normalize", "auto"),
            percentiles=kw.get("percentiles", (1, 99.8)),
            limits=kw.get("limits"),
        )
        L = gray2L(image, limits=limits)
        ab = np.zeros(L.shape + (2,), np.float32)
        table = np.asarray(hints) if hints is not None else np.zeros((0, 6))
        if len(table) and image.ndim == 2:
            colors = rgb2lab(table[:, 2:5].reshape(-1, 1, 3).astype(np.float32))[:, 0, 1:]
            yy, xx = np.mgrid[: L.shape[0], : L.shape[1]]
            d = (yy[..., None] - table[:, 0]) ** 2 + (xx[..., None] - table[:, 1]) ** 2
            ab = colors[np.argmin(d, axis=-1)].astype(np.float32)
        return {"L": L, "ab": ab, "rgb": Lab2rgb(L, ab), "plan": None, "limits": list(limits)}

    def iter_colorize_planes(self, *a, **kw):  # pragma: no cover - not used by these tests
        raise AssertionError("unexpected")

    def stop(self, grace=None) -> None:
        self.stops += 1
        self._stop = True


@pytest.fixture
def stub_worker(monkeypatch):
    stub = StubWorker()
    monkeypatch.setattr(_colorize_layer, "get_worker", lambda role="interactive": stub)
    return stub


#: a built-in model with weights (the stub worker never runs it)
MODEL = DEFAULT_MODEL


def _widget(viewer, model=MODEL):
    w = ColorizeWidget(viewer)
    viewer.window.add_dock_widget(w, name="Colorize")
    w.refresh_models(select=model)
    return w


# ---------------------------------------------------------------------------
# Points layer -> hints
# ---------------------------------------------------------------------------
def test_points_layer_table_maps_coordinates_colors_and_sizes(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(_two_regions(), name="gray", scale=(2.0, 2.0), translate=(10.0, 20.0))
    # the points live in world units: (world - translate) / scale = image pixels
    pts = viewer.add_points(
        [[10 + 2 * 5, 20 + 2 * 7], [10 + 2 * 40, 20 + 2 * 80]],
        face_color=[RED, BLUE],
        size=[6.0, 1.0],
    )
    table = _hint_layers.points_layer_table(pts, image)
    assert table.shape == (2, 6)
    np.testing.assert_allclose(table[:, :2], [[5, 7], [40, 80]])
    np.testing.assert_allclose(table[:, 2:5], [RED[:3], BLUE[:3]])
    # size is a diameter in the points' units (world here), the radius is in image pixels
    np.testing.assert_allclose(table[:, 5], [6.0 / 2 / 2, 1.0 / 2 / 2])
    # outside the image: a clear error naming the layers
    pts.add([[10 + 2 * 100, 20]])
    with pytest.raises(InputError, match="outside the image 'gray'"):
        _hint_layers.points_layer_table(pts, image)


def test_points_layer_table_on_a_stack(make_napari_viewer):
    viewer = make_napari_viewer()
    stack = np.stack([_two_regions()] * 3)
    image = viewer.add_image(stack, name="stack")
    pts = viewer.add_points([[0, 5, 6], [2, 30, 70]], face_color=[RED, BLUE], ndim=3, size=1)
    table = _hint_layers.points_layer_table(pts, image)
    assert table.shape == (2, 7)
    np.testing.assert_allclose(table[:, :3], [[0, 5, 6], [2, 30, 70]])  # plane, y, x
    # one plane: only its points, without the plane column
    plane2 = _hint_layers.points_layer_table(pts, image, plane=(2,))
    assert plane2.shape == (1, 6)
    np.testing.assert_allclose(plane2[0, :2], [30, 70])
    if _have_hints():  # the same points as Hints, over the stack and over one plane
        hints = _hint_layers.hints_from_points_layer(pts, image)
        assert hints.shape == stack.shape and len(hints) == 2
        assert hints.mask[0, 5, 6] == 1 and hints.mask[2, 30, 70] == 1
        assert hints.ab[0, 5, 6, 0] > 40 and hints.ab[2, 30, 70, 1] < -40  # red, blue
        on2 = _hint_layers.hints_from_points_layer(pts, image, plane=(2,))
        assert on2.shape == stack.shape[1:] and len(on2) == 1 and on2.mask[30, 70] == 1
    pts.add([[5, 1, 1]])
    with pytest.raises(InputError, match="plane"):
        _hint_layers.points_layer_table(pts, image)


def test_add_hints_layer_button(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(_two_regions(), name="gray", scale=(0.5, 0.5))
    w = _widget(viewer)
    assert w.image.value is image
    assert w.hints.value is None
    points = w.add_hints_layer()
    assert points.name == "gray hints" and "gray hints" in viewer.layers
    assert points.mode == "add" and points.ndim == image.ndim and len(points.data) == 0
    np.testing.assert_allclose(points.scale, image.scale)
    assert viewer.layers.selection.active is points
    assert w.hints.value is points
    assert points.current_size == pytest.approx(2 * _hint_layers.DEFAULT_HINT_RADIUS)
    # a second click selects the same layer instead of adding another
    assert w.add_hints_layer() is points
    assert [ly.name for ly in viewer.layers] == ["gray", "gray hints"]


# ---------------------------------------------------------------------------
# live mode (stub engine)
# ---------------------------------------------------------------------------
def test_live_mode_recolorizes_in_place_debounced(make_napari_viewer, qtbot, stub_worker):
    viewer = make_napari_viewer()
    gray = _two_regions()
    viewer.add_image(gray, name="gray")
    w = _widget(viewer)
    points = w.add_hints_layer()
    w.live.value = True
    # three quick clicks: one colorization (debounced)
    for yx in ([10, 10], [12, 12], [14, 14]):
        points.current_face_color = "red"
        points.add([yx])
    qtbot.waitUntil(lambda: "gray RGB" in viewer.layers and not w.running, timeout=10_000)
    qtbot.wait(3 * 300)
    assert w.live_runs == 1 and len(stub_worker.calls) == 1
    assert len(stub_worker.calls[0]["hints"]) == 3
    rgb_layer = viewer.layers["gray RGB"]
    assert viewer.layers[-1] is points  # the hints stay above the result
    n_layers = len(viewer.layers)
    assert _hue_distance(_hue(rgb_layer.data[50, 80]), _hint_hue(170, RED)) < 0.05  # red everywhere so far
    # a blue point on the right: re-colorized in place, no new layers
    points.selected_data = set()
    points.current_face_color = "blue"
    points.add([[40, 80]])
    qtbot.waitUntil(lambda: len(stub_worker.calls) == 2 and not w.running, timeout=10_000)
    assert viewer.layers["gray RGB"] is rgb_layer and len(viewer.layers) == n_layers
    assert _hue_distance(_hue(rgb_layer.data[40, 80]), _hint_hue(170, (0, 0, 1))) < 0.05
    assert _hue_distance(_hue(rgb_layer.data[10, 10]), _hint_hue(90, RED)) < 0.05
    # recoloring the selected point re-colorizes too
    points.selected_data = {3}
    points.face_color = "green"
    qtbot.waitUntil(lambda: len(stub_worker.calls) == 3 and not w.running, timeout=10_000)
    assert _hue_distance(_hue(rgb_layer.data[40, 80]), _hint_hue(170, points.face_color[3])) < 0.05
    # deleting it as well
    points.remove_selected()
    qtbot.waitUntil(lambda: len(stub_worker.calls) == 4 and not w.running, timeout=10_000)
    assert len(stub_worker.calls[-1]["hints"]) == 3
    # live off: changes do nothing
    w.live.value = False
    points.add([[30, 30]])
    qtbot.wait(2 * 300)
    assert len(stub_worker.calls) == 4
    assert not [m for m in w.messages if m[0] == "error"], w.messages


def test_live_mode_cancels_the_run_in_flight(make_napari_viewer, qtbot, stub_worker):
    stub_worker.seconds = 5.0
    viewer = make_napari_viewer()
    viewer.add_image(_two_regions(), name="gray")
    w = _widget(viewer)
    points = w.add_hints_layer()
    w.live.value = True
    points.current_face_color = "red"
    points.add([[10, 10]])
    qtbot.waitUntil(lambda: len(stub_worker.calls) == 1, timeout=10_000)  # the slow run has begun
    stub_worker.seconds = 0.0
    points.selected_data = set()
    points.current_face_color = "blue"
    points.add([[40, 80]])
    # the first run is stopped, then the newest hints are colorized
    qtbot.waitUntil(lambda: len(stub_worker.calls) == 2 and not w.running, timeout=10_000)
    assert stub_worker.stops == 1, [
        (len(c["hints"]) if c["hints"] is not None else None) for c in stub_worker.calls
    ]
    assert len(stub_worker.calls[-1]["hints"]) == 2
    rgb = viewer.layers["gray RGB"].data
    assert _hue_distance(_hue(rgb[40, 80]), _hint_hue(170, (0, 0, 1))) < 0.05
    assert not w.messages, w.messages  # a superseded live run is no error


def test_live_mode_colorizes_only_the_displayed_plane(make_napari_viewer, qtbot, stub_worker):
    viewer = make_napari_viewer()
    stack = np.stack([_two_regions(), _two_regions() // 2, _two_regions()])
    viewer.add_image(stack, name="stack")
    viewer.dims.set_current_step(0, 2)
    w = _widget(viewer)
    points = w.add_hints_layer()
    w.live.value = True
    points.current_face_color = "red"
    points.add([[2, 10, 10]])
    qtbot.waitUntil(lambda: "stack RGB" in viewer.layers and not w.running, timeout=10_000)
    call = stub_worker.calls[-1]
    assert call["image"].shape == stack.shape[1:]  # one plane went to the engine
    np.testing.assert_array_equal(call["image"], stack[2])
    assert call["hints"].shape == (1, 6)
    # the plane is normalised with the whole stack's limits
    assert call["limits"] is not None
    rgb = viewer.layers["stack RGB"]
    assert rgb.data.shape == stack.shape + (3,)
    assert rgb.data[2].any() and not rgb.data[0].any() and not rgb.data[1].any()
    assert rgb.metadata["napari_colorize"]["plane"] == [2]
    # moving to plane 0 colorizes it, in the same layer; plane 2 keeps its colors
    plane2 = rgb.data[2].copy()
    viewer.dims.set_current_step(0, 0)
    qtbot.waitUntil(lambda: len(stub_worker.calls) == 2 and not w.running, timeout=10_000)
    assert viewer.layers["stack RGB"] is rgb
    assert rgb.data[0].any()
    np.testing.assert_array_equal(rgb.data[2], plane2)
    assert len(stub_worker.calls[-1]["hints"]) == 0  # no hints on plane 0


def test_live_mode_shows_bad_hints_in_the_status_line(make_napari_viewer, qtbot, stub_worker):
    viewer = make_napari_viewer()
    viewer.add_image(_two_regions(), name="gray")
    w = _widget(viewer)
    points = w.add_hints_layer()
    w.live.value = True
    points.add([[500, 500]])
    qtbot.waitUntil(lambda: "outside" in w.status.value, timeout=10_000)
    assert not stub_worker.calls and "gray RGB" not in viewer.layers
    assert not w.messages  # no pop-up per click


def test_colorize_layer_with_points_layer_stub(make_napari_viewer, stub_worker):
    import napari_colorize as nc

    viewer = make_napari_viewer()
    layer = viewer.add_image(_two_regions(), name="gray")
    pts = viewer.add_points([[20, 10], [20, 80]], face_color=[RED, BLUE], size=3)
    out = nc.colorize_layer(viewer, layer, MODEL, hints=pts, tile=None)
    rgb = out[3]
    assert rgb.metadata["napari_colorize"]["hints"] == pts.name
    assert _hue_distance(_hue(rgb.data[20, 10]), _hint_hue(90, RED)) < 0.05
    assert _hue_distance(_hue(rgb.data[20, 80]), _hint_hue(170, BLUE)) < 0.05
    with pytest.raises(InputError, match="Points or Shapes"):
        nc.colorize_layer(viewer, layer, MODEL, hints=layer)


def test_hint_colors_from_a_reference_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    gray = viewer.add_image(_two_regions(), name="gray")
    ref = np.zeros(gray.data.shape + (3,), np.uint8)
    ref[:, :48] = (200, 30, 30)
    ref[:, 48:] = (30, 60, 220)
    reference = viewer.add_image(ref, name="reference", rgb=True)
    w = _widget(viewer)
    assert w.color_from.value is None
    w.color_from.value = reference
    points = w.add_hints_layer()
    points.add([[10, 10]])
    points.add([[30, 90]])
    np.testing.assert_allclose(
        points.face_color[:, :3], [[200 / 255, 30 / 255, 30 / 255], [30 / 255, 60 / 255, 220 / 255]]
    )
    # without a reference, points keep the color the user chose
    w.color_from.value = None
    points.current_face_color = "yellow"
    points.add([[5, 5]])
    np.testing.assert_allclose(points.face_color[2, :3], [1, 1, 0])


def _have_hints() -> bool:
    try:
        import napari_colorize.hints  # noqa: F401 - only checks that hints exist
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _have_hints(), reason="napari_colorize.hints is not available")
def test_shapes_layer_hints(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(_two_regions(), name="gray", scale=(2, 2))
    shapes = viewer.add_shapes(
        [
            np.array([[0, 0], [20, 20]]) * 2.0,
            np.array([[40, 60], [40, 90], [60, 90], [60, 60]]) * 2.0,  # an ellipse's bounding box
            np.array([[0, 60], [5, 70]]) * 2.0,
        ],
        shape_type=["rectangle", "ellipse", "rectangle"],
        face_color=["red", "blue", "transparent"],
    )
    hints = _hint_layers.hints_from_shapes_layer(shapes, image)
    assert hints.shape == image.data.shape
    assert hints.mask[5, 5] == 1 and hints.ab[5, 5, 0] > 40  # red: a > 0
    assert hints.mask[50, 75] == 1 and hints.ab[50, 75, 1] < -40  # blue: b < 0
    assert hints.mask[40, 60] == 0  # an ellipse leaves its bounding box's corners out
    assert hints.mask[2, 65] == 0  # a transparent face gives no hint
    assert 0.5 * 21 * 21 < hints.mask[:25, :25].sum() <= 21 * 21


# ---------------------------------------------------------------------------
# intensities
# ---------------------------------------------------------------------------
def _twelve_bit(gray8: np.ndarray) -> np.ndarray:
    return (gray8.astype(np.uint32) * 4095 // 255).astype(np.uint16)


@pytest.mark.parametrize("normalize", ["contrast_limits", "auto"])
def test_twelve_bit_layer_is_not_black_and_limits_are_recorded(
    make_napari_viewer, coffee_gray, lookup_model, normalize
):
    viewer = make_napari_viewer()
    img12 = _twelve_bit(coffee_gray)
    layer = viewer.add_image(img12, name="cam", contrast_limits=(0, 4095))
    ref = viewer.add_image(coffee_gray, name="ref8")
    out = colorize_layer(viewer, layer, lookup_model, normalize=normalize, tile=None)
    rgb = out[3].data
    assert rgb.mean() > 60, rgb.mean()  # the dtype range would give about 5/255
    meta = out[3].metadata["napari_colorize"]
    assert meta["normalize"] == normalize
    lo, hi = meta["limits"]
    if normalize == "contrast_limits":
        assert (lo, hi) == (0.0, 4095.0)
        # the same picture as the 8-bit version
        ref_rgb = colorize_layer(viewer, ref, lookup_model, tile=None)[3].data
        assert np.abs(rgb.astype(int) - ref_rgb.astype(int)).mean() < 3
    else:
        assert 0 <= lo < hi <= 4095
    for ly in out:
        assert ly.metadata["napari_colorize"]["limits"] == [lo, hi]
    dark = colorize_layer(viewer, layer, lookup_model, normalize="dtype", tile=None)[3]
    assert dark.data.mean() < 20
    assert dark.metadata["napari_colorize"]["limits"] == [0.0, 65535.0]


def test_widget_intensity_choice(make_napari_viewer, qtbot, wait_idle, coffee_gray, lookup_model):
    viewer = make_napari_viewer()
    viewer.add_image(_twelve_bit(coffee_gray), name="cam", contrast_limits=(0, 4095))
    w = _widget(viewer, str(lookup_model))
    w._extra_models["test lookup"] = str(lookup_model)
    w.refresh_models(select=str(lookup_model))
    w.use_tiles.value = False
    assert not w.p_low.native.isHidden() and not w.p_high.native.isHidden()
    w.normalize.value = "contrast_limits"
    assert w.p_low.native.isHidden()
    assert w.intensity() == {"normalize": "contrast_limits"}
    w.run()
    wait_idle(w)
    assert not w.messages, w.messages
    rgb = viewer.layers["cam RGB"]
    assert rgb.metadata["napari_colorize"]["limits"] == [0.0, 4095.0]
    assert rgb.data.mean() > 60
    w.normalize.value = "percentile"
    w.p_low.value, w.p_high.value = 50.0, 10.0
    with pytest.raises(InputError, match="below"):
        w.intensity()


# ---------------------------------------------------------------------------
# the real engine with propagate
# ---------------------------------------------------------------------------
def _have_propagate() -> bool:
    try:
        import napari_colorize.hints  # noqa: F401 - only checks that hints exist
        from napari_colorize.catalogue import resolve_model_path

        resolve_model_path("propagate")
    except Exception:
        return False
    return True


needs_propagate = pytest.mark.skipif(not _have_propagate(), reason="the propagate method is not available")


@needs_propagate
def test_points_with_two_colors_give_those_hues_with_propagate(make_napari_viewer):
    import napari_colorize as nc

    viewer = make_napari_viewer()
    gray = _two_regions()
    layer = viewer.add_image(gray, name="gray", scale=(0.5, 0.5), translate=(3, 4))
    # points given in world coordinates (the image's scale and translate apply)
    yx = np.array([[30, 20], [30, 75]])
    pts = viewer.add_points(yx * 0.5 + (3, 4), face_color=[RED, BLUE], size=1)
    out = nc.colorize_layer(viewer, layer, "propagate", hints=pts, tile=None)
    rgb = out[3].data
    assert len([ly for ly in viewer.layers if ly.name.startswith("gray ")]) == 4
    for (y, x), color in zip(yx, (RED, BLUE)):
        assert _hue_distance(_hue(rgb[y, x]), _hint_hue(gray[y, x], color)) < 0.05
    # each region takes its hint's hue, the edge between them is respected
    left, right = rgb[:, :40].reshape(-1, 3).mean(0), rgb[:, 56:].reshape(-1, 3).mean(0)
    assert left[0] > left[2] and right[2] > right[0]
    # the same with filled shapes as hints
    shapes = viewer.add_shapes(
        [yx[:1] * 0.5 + (3, 4) + [[-1, -1], [1, 1]], yx[1:] * 0.5 + (3, 4) + [[-1, -1], [1, 1]]],
        shape_type="rectangle",
        face_color=["red", "blue"],
    )
    rgb2 = nc.colorize_layer(viewer, layer, "propagate", hints=shapes, tile=None)[3].data
    for (y, x), color in zip(yx, (RED, BLUE)):
        assert _hue_distance(_hue(rgb2[y, x]), _hint_hue(gray[y, x], color)) < 0.05


@needs_propagate
def test_live_mode_with_propagate(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(_two_regions(), name="gray")
    w = _widget(viewer, "propagate")
    assert w.live.value  # on by default for propagate
    points = w.add_hints_layer()
    points.current_face_color = "red"
    points.add([[20, 10]])
    qtbot.waitUntil(lambda: "gray RGB" in viewer.layers and not w.running, timeout=60_000)
    rgb = viewer.layers["gray RGB"]
    runs = w.live_runs
    points.selected_data = set()  # else the new color also recolors the selected (last added) point
    points.current_face_color = "blue"
    points.add([[20, 80]])
    qtbot.waitUntil(lambda: w.live_runs > runs and not w.running, timeout=60_000)
    assert viewer.layers["gray RGB"] is rgb
    assert _hue_distance(_hue(rgb.data[20, 80]), _hint_hue(170, (0, 0, 1))) < 0.05
    assert _hue_distance(_hue(rgb.data[20, 10]), _hint_hue(90, RED)) < 0.05
    assert not w.messages, w.messages


@needs_propagate
def test_points_on_a_stack_color_their_planes_with_propagate(make_napari_viewer):
    import napari_colorize as nc

    viewer = make_napari_viewer()
    stack = np.stack([_two_regions()] * 3)
    layer = viewer.add_image(stack, name="stack")
    pts = viewer.add_points([[0, 20, 10], [2, 20, 80]], face_color=[RED, BLUE], ndim=3, size=1)
    rgb = nc.colorize_layer(viewer, layer, "propagate", hints=pts, tile=None)[3].data
    assert rgb.shape == stack.shape + (3,)
    assert _hue_distance(_hue(rgb[0, 20, 10]), _hint_hue(90, RED)) < 0.05
    assert _hue_distance(_hue(rgb[2, 20, 80]), _hint_hue(170, BLUE)) < 0.05


def test_the_plugin_builds_the_request_the_api_builds(make_napari_viewer, monkeypatch):
    """colorize_layer's request (tiling, intensity, saturation, a Points layer's table) equals the
    one nc.colorize builds for the same inputs (tests/engine/test_request.py ties the CLI to the API)."""
    from napari_colorize import api
    from napari_colorize._napari._layer_request import _split_tiling, layer_request

    viewer = make_napari_viewer()
    image = viewer.add_image(_two_regions(), name="gray")
    pts = viewer.add_points([[5, 7], [40, 80]], face_color=[RED, BLUE], size=[6.0, 1.0])
    options, _ = _split_tiling({"tile": 128, "overlap": 16, "blend": "hann", "show_tiles": False})
    plugin, beside = layer_request(
        viewer,
        image,
        hints=pts,
        normalize="percentile",
        percentiles=(2, 99),
        saturation=1.5,
        confidence=True,
        options=options,
        model="/models/m",
    )
    assert beside is None  # a Points layer's table travels inside the request
    seen = []
    monkeypatch.setattr(api, "colorize_request", lambda img, request, **kw: seen.append(request))
    api.colorize(
        image.data,
        "/models/m",
        hints=_hint_layers.points_layer_table(pts, image),
        rgb=False,
        tile=128,
        overlap=16,
        blend="hann",
        normalize="percentile",
        percentiles=(2, 99),
        saturation=1.5,
        confidence=True,
    )
    assert seen == [plugin]
