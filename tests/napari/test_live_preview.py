"""Live hints at any image size: a low-resolution preview first, then the full resolution replaces it.

Driven as a person does it: the Colorize widget with ``live`` ticked, the hints layer in add mode,
points added with ``layer.add``.  The stub engine (see ``test_hints.StubWorker``) paints each pixel
with its nearest hint's chroma; here its full-resolution runs can be made slow, so that the preview
can be seen on screen before the full resolution replaces it.  The last test runs the real engine.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_hints import (
    MODEL,
    RED,
    StubWorker,
    _hint_hue,
    _hue,
    _hue_distance,
    _widget,
    needs_propagate,
    request_keywords,
)

from napari_colorize._napari import _colorize_layer
from napari_colorize._napari._colorize_layer import colorize_layer

pytestmark = pytest.mark.napari

H, W = 300, 450  # larger than the tests' preview size
PREVIEW = 100
GRID = (67, 100)  # 300 / 4.5 rounds to 67


class SlowFullResolution(StubWorker):
    """Previews come back at once; a full-resolution run takes ``full_seconds(number of hints)``."""

    def __init__(self) -> None:
        super().__init__()
        self.full_seconds = lambda n_hints: 0.0
        self.describes = 0
        self.slow_describes: set[int] = set()  # these "describe" requests (1, 2, ...) take a second

    def iter_request(self, cmd, **kw):
        import time

        self.describes += 1
        if self.describes in self.slow_describes:
            time.sleep(1.0)
        return (yield from super().iter_request(cmd, **kw))

    def iter_colorize(self, image, model=None, *, request=None, rgb=None, hints=None, **kw):
        table = request_keywords(request, hints, kw)[0]
        n = 0 if table is None else len(table)
        self.seconds = self.full_seconds(n) if np.shape(image) == (H, W) else 0.0
        return (yield from super().iter_colorize(image, model, request=request, rgb=rgb, hints=hints, **kw))


@pytest.fixture
def slow_worker(monkeypatch):
    stub = SlowFullResolution()
    monkeypatch.setattr(_colorize_layer, "get_worker", lambda role="interactive": stub)
    return stub


def _big_gray() -> np.ndarray:
    img = np.full((H, W), 90, np.uint8)
    img[:, W // 2 :] = 170
    return img


def _live_widget(viewer, qtbot, *, adaptive: bool = False):
    w = _widget(viewer)
    w.preview_size = PREVIEW
    if not adaptive:
        w.preview_seconds = None  # every preview on the same grid (the size adapts in its own tests)
    points = w.add_hints_layer()
    assert points.mode == "add" and viewer.layers.selection.active is points
    w.live.value = True
    return w, points


def _plain_colorize(viewer, w, points) -> np.ndarray:
    """What the Colorize button gives for the same hints and options (blocking, no preview)."""
    out = colorize_layer(
        viewer,
        "gray",
        w.model.value,
        hints=points,
        **w.intensity(),
        **w.color_options(),
        **w.options(),
    )
    return np.array(out[3].data)


def test_live_preview_first_then_the_full_resolution_replaces_it(make_napari_viewer, qtbot, slow_worker):
    slow_worker.full_seconds = lambda n: 1.5
    viewer = make_napari_viewer()
    gray = viewer.add_image(_big_gray(), name="gray", scale=(0.5, 0.5), translate=(10.0, 20.0))
    w, points = _live_widget(viewer, qtbot)
    points.current_face_color = "red"
    points.add([[100, 60]])
    # the first update is the preview: fewer pixels, larger scale, overlaying the image
    qtbot.waitUntil(lambda: "gray RGB" in viewer.layers, timeout=10_000)
    rgb = viewer.layers["gray RGB"]
    assert rgb.data.shape[:2] == GRID
    fy, fx = H / GRID[0], W / GRID[1]
    np.testing.assert_allclose(rgb.scale, (0.5 * fy, 0.5 * fx))
    assert rgb.metadata["napari_colorize"]["preview"] == pytest.approx([fy, fx])
    # a preview pixel sits on the centre of its block of image pixels
    np.testing.assert_allclose(rgb.data_to_world([0, 0]), gray.data_to_world([(fy - 1) / 2, (fx - 1) / 2]))
    np.testing.assert_allclose(
        rgb.data_to_world([GRID[0] - 1, GRID[1] - 1]),
        gray.data_to_world([H - 1 - (fy - 1) / 2, W - 1 - (fx - 1) / 2]),
    )
    for suffix in (" L", " a", " b"):
        assert viewer.layers["gray" + suffix].data.shape == GRID
    first = slow_worker.calls[0]
    assert first["image"].shape == GRID and first["image"].dtype == np.float32
    assert first["limits"] == (0.0, 255.0)  # the full image's intensities, not the block means'
    np.testing.assert_allclose(first["hints"][0, :2], [100 * GRID[0] // H, 60 * GRID[1] // W])
    assert first["hints"][0, 5] == pytest.approx(_hints_radius() * (1 / fy + 1 / fx) / 2)
    assert w.running and "preview" in w.status.value  # the full resolution is on its way
    # then the full resolution replaces it, in the same layers, with the image's own geometry
    qtbot.waitUntil(lambda: not w.running, timeout=10_000)
    assert viewer.layers["gray RGB"] is rgb and rgb.data.shape[:2] == (H, W)
    np.testing.assert_allclose(rgb.scale, gray.scale)
    np.testing.assert_allclose(rgb.translate, gray.translate)
    assert "preview" not in rgb.metadata["napari_colorize"]
    assert [c["image"].shape for c in slow_worker.calls] == [GRID, (H, W)]
    assert w.live_runs == 1 and w.live_refines == 1
    assert viewer.layers[-1] is points
    # the same as a plain colorize with the same hints (the full-resolution L kept)
    final = np.array(rgb.data)
    assert _hue_distance(_hue(final[100, 60]), _hint_hue(90, RED)) < 0.05
    np.testing.assert_array_equal(final, _plain_colorize(viewer, w, points))
    assert not w.messages, w.messages


def test_each_hint_change_previews_again(make_napari_viewer, qtbot, slow_worker):
    slow_worker.full_seconds = lambda n: 1.0
    viewer = make_napari_viewer()
    gray = viewer.add_image(_big_gray(), name="gray")
    w, points = _live_widget(viewer, qtbot)
    points.current_face_color = "red"
    points.add([[100, 60]])
    qtbot.waitUntil(lambda: "gray RGB" in viewer.layers and not w.running, timeout=10_000)
    rgb = viewer.layers["gray RGB"]
    assert rgb.data.shape[:2] == (H, W)
    points.selected_data = set()
    points.current_face_color = "blue"
    points.add([[200, 400]])
    qtbot.waitUntil(lambda: rgb.data.shape[:2] == GRID, timeout=10_000)  # the preview comes first
    assert rgb.scale[0] > gray.scale[0]
    qtbot.waitUntil(lambda: not w.running, timeout=10_000)
    assert rgb.data.shape[:2] == (H, W) and tuple(rgb.scale) == tuple(gray.scale)
    assert [len(c["hints"]) for c in slow_worker.calls] == [1, 1, 2, 2]
    np.testing.assert_array_equal(np.array(rgb.data), _plain_colorize(viewer, w, points))


def test_a_newer_hint_cancels_the_full_resolution_and_the_last_state_wins(
    make_napari_viewer, qtbot, slow_worker
):
    slow_worker.full_seconds = lambda n: 30.0 if n == 1 else 0.0  # the first refinement would take long
    viewer = make_napari_viewer()
    gray = viewer.add_image(_big_gray(), name="gray")
    w, points = _live_widget(viewer, qtbot)
    points.current_face_color = "red"
    points.add([[100, 60]])
    qtbot.waitUntil(lambda: len(slow_worker.calls) == 2, timeout=10_000)  # the refinement has begun
    rgb = viewer.layers["gray RGB"]
    assert rgb.data.shape[:2] == GRID and w.running
    points.selected_data = set()
    points.current_face_color = "blue"
    points.add([[200, 400]])
    qtbot.waitUntil(lambda: len(slow_worker.calls) == 4 and not w.running, timeout=20_000)
    assert slow_worker.stops == 1  # the refinement of the first hint was stopped
    assert [(c["image"].shape, len(c["hints"])) for c in slow_worker.calls] == [
        (GRID, 1),
        ((H, W), 1),
        (GRID, 2),
        ((H, W), 2),
    ]
    assert rgb.data.shape[:2] == (H, W) and tuple(rgb.scale) == tuple(gray.scale)
    final = np.array(rgb.data)
    assert _hue_distance(_hue(final[200, 400]), _hint_hue(170, (0, 0, 1))) < 0.05
    np.testing.assert_array_equal(final, _plain_colorize(viewer, w, points))
    assert not w.messages, w.messages  # superseded runs are no error
    assert w.status.value.startswith("done")


def test_a_hint_while_the_refinement_starts_is_not_lost(make_napari_viewer, qtbot, slow_worker):
    """The refinement's first request (describe) is slow: the newer hint arrives before its colorize
    request exists, and still stops it."""
    slow_worker.full_seconds = lambda n: 30.0 if n == 1 else 0.0
    slow_worker.slow_describes = {2}
    viewer = make_napari_viewer()
    viewer.add_image(_big_gray(), name="gray")
    w, points = _live_widget(viewer, qtbot)
    points.current_face_color = "red"
    points.add([[100, 60]])
    qtbot.waitUntil(lambda: slow_worker.describes == 2, timeout=10_000)  # the refinement has begun
    points.selected_data = set()
    points.current_face_color = "blue"
    points.add([[200, 400]])
    qtbot.waitUntil(lambda: len(slow_worker.calls) == 3 and not w.running, timeout=15_000)
    # the stopped refinement never sent its colorize request
    assert [(c["image"].shape, len(c["hints"])) for c in slow_worker.calls] == [
        (GRID, 1),
        (GRID, 2),
        ((H, W), 2),
    ]
    assert viewer.layers["gray RGB"].data.shape[:2] == (H, W)
    np.testing.assert_array_equal(
        np.array(viewer.layers["gray RGB"].data), _plain_colorize(viewer, w, points)
    )
    assert not w.messages, w.messages


def test_a_small_image_skips_the_preview(make_napari_viewer, qtbot, slow_worker):
    viewer = make_napari_viewer()
    viewer.add_image(_big_gray()[:PREVIEW, 175 : 175 + PREVIEW], name="gray")
    w, points = _live_widget(viewer, qtbot)
    points.add([[10, 10]])
    qtbot.waitUntil(lambda: "gray RGB" in viewer.layers and not w.running, timeout=10_000)
    qtbot.wait(400)
    assert [c["image"].shape for c in slow_worker.calls] == [(PREVIEW, PREVIEW)]
    assert w.live_refines == 0 and "preview" not in viewer.layers["gray RGB"].metadata["napari_colorize"]


class PixelPacedWorker(StubWorker):
    """A preview takes ``seconds_per_pixel`` times the pixels it gets, as a network does; the full
    resolution comes back at once (it is not what is measured here)."""

    def __init__(self, seconds_per_pixel: float) -> None:
        super().__init__()
        self.per_pixel = seconds_per_pixel

    def iter_colorize(self, image, model=None, *, request=None, rgb=None, hints=None, **kw):
        small = max(np.shape(image)[-2:]) <= 512
        self.seconds = self.per_pixel * float(np.prod(np.shape(image)[-2:])) if small else 0.0
        return (yield from super().iter_colorize(image, model, request=request, rgb=rgb, hints=hints, **kw))


@pytest.mark.parametrize("pixel_us", [0.5, 4.0, 20.0])
def test_the_preview_shrinks_until_it_is_quick(make_napari_viewer, qtbot, monkeypatch, pixel_us):
    """A model slower per pixel previews on a coarser grid, so that a preview stays about 0.3 s."""
    from napari_colorize.preview import PREVIEW_SMALLEST

    stub = PixelPacedWorker(pixel_us * 1e-6)
    monkeypatch.setattr(_colorize_layer, "get_worker", lambda role="interactive": stub)
    viewer = make_napari_viewer()
    viewer.add_image(np.tile(_big_gray(), (4, 4)), name="gray")  # 1200 x 1800
    w, points = _live_widget(viewer, qtbot, adaptive=True)
    w.preview_size = 512
    target = w.preview_seconds
    sides, times = [], []
    for k in range(6):
        calls, refines = len(stub.calls), w.live_refines
        points.selected_data = set()
        points.add([[100 + 50 * k, 60]])
        qtbot.waitUntil(lambda r=refines: w.live_refines > r and not w.running, timeout=30_000)
        shape = stub.calls[calls]["image"].shape  # the preview; the full resolution came next
        sides.append(max(shape))
        times.append(stub.per_pixel * shape[0] * shape[1])
    assert sides[0] == 512  # the first preview is at the largest size
    if pixel_us * 1e-6 * 512 * 341 < target / 2:  # a fast model keeps a fine preview
        assert sides[-1] >= 0.75 * 512, sides
    else:  # a slow one gets coarser, never finer than the time allows nor below the smallest
        assert sides[-1] < sides[0] and all(b <= a for a, b in zip(sides, sides[1:], strict=False)), sides
        assert sides[-1] >= PREVIEW_SMALLEST
        assert times[-1] <= max(target, stub.per_pixel * PREVIEW_SMALLEST**2 * 2), (sides, times)
    assert not w.messages, w.messages


def test_the_colorize_button_never_previews(make_napari_viewer, qtbot, slow_worker):
    viewer = make_napari_viewer()
    viewer.add_image(_big_gray(), name="gray")
    w = _widget(viewer)
    w.preview_size = PREVIEW
    w.run()
    qtbot.waitUntil(lambda: "gray RGB" in viewer.layers and not w.running, timeout=10_000)
    assert [c["image"].shape for c in slow_worker.calls] == [(H, W)]


def _hints_radius() -> float:
    from napari_colorize._napari._hint_layers import DEFAULT_HINT_RADIUS

    return DEFAULT_HINT_RADIUS


@needs_propagate
def test_live_preview_with_propagate_ends_as_a_plain_colorize(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    gray = np.full((240, 360), 90, np.uint8)
    gray[:, 180:] = 170
    gray = gray + np.random.default_rng(0).integers(0, 3, gray.shape).astype(np.uint8)
    layer = viewer.add_image(gray, name="gray")
    w = _widget(viewer, "propagate")
    w.preview_size = 120
    points = w.add_hints_layer()
    assert w.live.value  # on by default for propagate
    points.current_face_color = "red"
    points.add([[120, 60]])
    qtbot.waitUntil(lambda: "gray RGB" in viewer.layers, timeout=60_000)
    seen = [viewer.layers["gray RGB"].data.shape[:2]]
    qtbot.waitUntil(lambda: w.live_refines == 1 and not w.running, timeout=60_000)
    rgb = viewer.layers["gray RGB"]
    assert seen == [(80, 120)] and rgb.data.shape[:2] == (240, 360)
    assert tuple(rgb.scale) == tuple(layer.scale)
    final = np.array(rgb.data)
    assert _hue_distance(_hue(final[120, 60]), _hint_hue(90, RED)) < 0.05
    np.testing.assert_array_equal(final, _plain_colorize(viewer, w, points))
    assert not w.messages, w.messages


def test_stub_records_float_previews():
    """The stub itself takes the preview's float32 block means with explicit limits."""
    stub = SlowFullResolution()
    gen = stub.iter_colorize(np.full(GRID, 100.0, np.float32), MODEL, limits=(0.0, 255.0))
    with pytest.raises(StopIteration) as stop:
        while True:
            next(gen)
    assert stop.value.value["L"].shape == GRID


def test_live_previews_reuse_the_block_means_until_the_image_changes(
    make_napari_viewer, qtbot, slow_worker, monkeypatch
):
    """Only the hints change between live runs: the large plane is averaged once, not per click."""
    import napari_colorize.preview as preview

    made = []
    real = preview.preview_request
    monkeypatch.setattr(preview, "preview_request", lambda *a, **k: made.append(1) or real(*a, **k))
    viewer = make_napari_viewer()
    layer = viewer.add_image(_big_gray(), name="gray")
    w, points = _live_widget(viewer, qtbot)
    for k in range(3):
        refines = w.live_refines
        points.selected_data = set()
        points.add([[100, 60 + 100 * k]])
        qtbot.waitUntil(lambda r=refines: w.live_refines > r and not w.running, timeout=10_000)
    assert len(made) == 1
    previews = [c for c in slow_worker.calls if c["image"].shape == GRID]
    assert len(previews) == 3 and all(np.array_equal(p["image"], previews[0]["image"]) for p in previews)
    # a new image is averaged again
    layer.data = 255 - _big_gray()
    refines = w.live_refines
    points.selected_data = set()
    points.add([[250, 400]])
    qtbot.waitUntil(lambda r=refines: w.live_refines > r and not w.running, timeout=10_000)
    assert len(made) == 2
    last = [c for c in slow_worker.calls if c["image"].shape == GRID][-1]["image"]
    np.testing.assert_allclose(last, 255 - previews[0]["image"], atol=1e-3)
