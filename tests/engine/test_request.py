"""ColorizeRequest: the one colorize request of the command line, the Python API and the plugin.

It round-trips through JSON (the client sends ``request.to_dict()`` in its JSON line and the
server rebuilds it), each bad field is one clear line, and the entry points build equal requests
for equal inputs (the plugin's half is in tests/napari/test_hints.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_colorize.errors import ColorizeError, ConfigError, InputError
from napari_colorize.request import ColorizeRequest, split_hints
from napari_colorize.tiling import TilingOptions

POINTS = np.array([[10.0, 20.0, 255.0, 0.0, 0.0, 3.0], [30.5, 40.0, 0.0, 128.0, 255.0, 0.0]])


def _full() -> ColorizeRequest:
    return ColorizeRequest.build(
        model="default",
        hints=POINTS,
        tile=256,
        overlap=0.25,
        blend="hann",
        global_anchor=True,
        normalize="percentile",
        percentiles=(2, 99),
        limits=(10, 4000),
        saturation=1.5,
        confidence=True,
        stack_smoothing=0.5,
        rgb=False,
    )


def test_a_request_round_trips_through_json_and_the_protocol_line():
    from napari_colorize.protocol import dumps, loads

    req = _full()
    assert ColorizeRequest.from_json(req.to_json()) == req
    assert ColorizeRequest.from_dict(json.loads(json.dumps(req.to_dict()))) == req
    line = dumps({"id": 1, "cmd": "colorize", "args": {"request": req.to_dict()}})
    assert ColorizeRequest.from_dict(loads(line)["args"]["request"]) == req
    np.testing.assert_array_equal(req.points(), POINTS)  # exactly: floats survive JSON
    assert req.options == TilingOptions(tile=256, overlap=0.25, blend="hann", global_anchor=True)
    assert req.percentiles == (2.0, 99.0) and req.limits == (10.0, 4000.0)


def test_defaults_and_a_csv_path():
    req = ColorizeRequest()
    assert req.options == TilingOptions() and req.hints is None and req.points() is None
    assert ColorizeRequest.from_dict(req.to_dict()) == req
    csv = ColorizeRequest(hints="hints.csv")
    assert csv.wire_hints() == {"csv": "hints.csv"} and csv.points() is None
    assert ColorizeRequest(tiling=TilingOptions(tile=64)).tiling["tile"] == 64


def test_the_hints_of_a_plane_keep_its_rows_without_the_plane_column():
    pts = np.array([[0, 1, 2, 255, 0, 0], [1, 3, 4, 0, 255, 0], [1, 5, 6, 0, 0, 255]], float)
    req = ColorizeRequest(hints=pts)
    np.testing.assert_array_equal(req.plane(1).points(), pts[1:, 1:])
    assert req.plane(2).hints is None


def test_split_hints_keeps_in_the_request_only_what_it_carries():
    from napari_colorize.hints import Hints

    dense = Hints(np.zeros((4, 4, 2), np.float32), np.zeros((4, 4), np.float32))
    assert split_hints(dense) == (None, dense)
    assert split_hints("h.csv") == ("h.csv", None)
    inside, beside = split_hints(POINTS)
    assert beside is None and inside is POINTS
    nested = [(1, 2, (255, 0, 0))]  # a tuple with its color nested: painted in-process only
    assert split_hints(nested) == (None, nested)
    with pytest.raises(InputError, match="table of points or a CSV path"):
        ColorizeRequest(hints=dense)


@pytest.mark.parametrize(
    "field,value,error,match",
    [
        ("tiling", {"tile": -3}, ConfigError, "tile must be a positive whole number"),
        ("tiling", {"overlap": -1}, ConfigError, "overlap must be"),
        ("tiling", {"blend": "soft"}, ConfigError, "unknown blend"),
        ("tiling", {"tiles": 3}, ConfigError, "tiles"),
        ("tiling", 7, ConfigError, "tiling must be TilingOptions or a dict"),
        ("normalize", "minmax", ConfigError, "unknown normalize 'minmax'"),
        ("percentiles", (50, 5), ConfigError, "percentiles must satisfy 0 <= low < high <= 100"),
        ("percentiles", "x", ConfigError, "percentiles must be two numbers"),
        ("limits", (5, 5), InputError, "low < high"),
        ("saturation", -1, ConfigError, "saturation must be a number >= 0"),
        ("stack_smoothing", -0.5, ConfigError, "stack_smoothing must be a number >= 0"),
        ("confidence", "yes", ConfigError, "confidence must be true or false"),
        ("rgb", "no", ConfigError, "rgb"),
        ("hints", np.zeros((3, 4)), InputError, r"must be \(N, 5..7\)"),
        ("hints", object(), InputError, "hints must be a Hints, a table of points or a CSV path"),
        ("model", 3, ConfigError, "model"),
    ],
)
def test_each_bad_field_is_one_clear_line(field, value, error, match):
    with pytest.raises(error, match=match) as info:
        ColorizeRequest(**{field: value})
    assert isinstance(info.value, ColorizeError)
    assert len(str(info.value).splitlines()) == 1
    # the same line when the request comes back from a dict (the server's side)
    with pytest.raises(error, match=match):
        ColorizeRequest.from_dict({field: value})


def test_an_unknown_key_or_keyword_is_one_line():
    with pytest.raises(ConfigError, match="unknown config key 'tile'"):
        ColorizeRequest.from_dict({"tile": 3})
    with pytest.raises(InputError, match="unknown colorize option"):
        ColorizeRequest.build(tilesize=3)


def test_the_cli_and_the_api_build_equal_requests(monkeypatch, tmp_path):
    import napari_colorize as nc
    from napari_colorize import api
    from napari_colorize.cli.commands import request_from_args
    from napari_colorize.cli.parser import build_parser

    argv = ["colorize", "x.png", "--model", "default", "--out-dir", str(tmp_path), "--tile", "256"]
    argv += ["--overlap", "32", "--blend", "hann", "--global-anchor", "--normalize", "percentile"]
    argv += ["--percentiles", "2", "99", "--saturation", "1.5", "--stack-smoothing", "0.5"]
    args = build_parser().parse_args(argv)
    cli = request_from_args(args, percentiles=tuple(args.percentiles)).replace(model="default")

    seen = []

    def capture(image, request, **kw):
        seen.append(request)
        return None

    monkeypatch.setattr(api, "colorize_request", capture)
    nc.colorize(
        np.zeros((8, 8), np.uint8),
        "default",
        tile=256,
        overlap=32,
        blend="hann",
        global_anchor=True,
        normalize="percentile",
        percentiles=(2, 99),
        saturation=1.5,
        stack_smoothing=0.5,
    )
    assert seen == [cli]
    # and the same through options= instead of the tiling keywords
    nc.colorize(
        np.zeros((8, 8), np.uint8),
        "default",
        options={"tile": 256, "overlap": 32, "blend": "hann", "global_anchor": True},
        normalize="percentile",
        percentiles=(2, 99),
        saturation=1.5,
        stack_smoothing=0.5,
    )
    assert seen[1] == cli


def test_the_client_sends_the_request_as_it_is_and_the_server_rebuilds_it(monkeypatch):
    """Worker.iter_colorize's keywords build the request that the API builds; it travels as its dict."""
    from napari_colorize import api
    from napari_colorize.client import Worker

    sent = {}

    def fake_request(self, cmd, *, should_stop=None, **args):
        sent.update(args, cmd=cmd)
        return {}
        yield  # a generator

    monkeypatch.setattr(Worker, "iter_request", fake_request)
    w = Worker()
    gen = w.iter_colorize(np.zeros((8, 8), np.uint8), "default", hints=POINTS, tile=64, saturation=0.5)
    with pytest.raises(StopIteration):
        next(gen)
    assert sent["cmd"] == "colorize" and sent["hints"] is None
    got = ColorizeRequest.from_dict(json.loads(json.dumps(sent["request"])))

    seen = []
    monkeypatch.setattr(api, "colorize_request", lambda image, request, **kw: seen.append(request))
    api.colorize(np.zeros((8, 8), np.uint8), "default", hints=POINTS, tile=64, saturation=0.5)
    assert got == seen[0]
    w.shutdown()
