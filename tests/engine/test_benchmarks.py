"""The benchmark scripts stay runnable: helpers, and a tiny lookup run of each."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import common  # noqa: E402


def test_photos_resize_and_half_split():
    photos = common.load_photos(n=2, size=96)
    assert [n for n, _ in photos] == list(common.PHOTOS)[:2]
    for _, rgb in photos:
        assert rgb.dtype == np.float32 and max(rgb.shape[:2]) == 96 and rgb.shape[2] == 3
        assert 0 <= rgb.min() and rgb.max() <= 1
        left, right = common.half_split(rgb)
        assert left.shape[1] + right.shape[1] == rgb.shape[1]


def test_every_bundled_photo_loads_offline():
    for name, loader in common.PHOTOS.items():
        img = loader()
        assert img.ndim == 3 and img.shape[2] >= 3, name


def test_gray_baseline_keeps_L_and_has_no_chroma():
    from napari_colorize.color import rgb2lab

    rgb = common.load_photos(["coffee"], size=64)[0][1]
    gray = common.gray_baseline(rgb)
    lab_g, lab_t = rgb2lab(gray), rgb2lab(rgb)
    assert np.abs(lab_g[..., 0] - lab_t[..., 0]).max() < 0.5
    assert np.abs(lab_g[..., 1:]).max() < 0.5


def test_format_table_plain_and_markdown():
    cols = [common.Column("name", "method", "{}", "<"), common.Column("x", "X", "{:.1f}")]
    rows = [{"name": "a", "x": 1.25}, {"name": "bb", "x": float("inf")}, {"name": "c"}]
    plain = common.format_table(rows, cols)
    assert plain.splitlines()[0].split() == ["method", "X"]
    assert "inf" in plain and "-" in plain.splitlines()[-1]
    md = common.format_table(rows, cols, markdown=True).splitlines()
    assert md[0] == "| method | X |" and md[1] == "| :--- | ---: |" and md[2] == "| a | 1.2 |"


def test_speed_tables_name_the_cpu_and_its_matrix_instruction_sets():
    cols = [common.Column("name", "method", "{}", "<")]
    for markdown in (False, True):
        table = common.format_table([{"name": "a"}], cols, markdown=markdown, cpu=True)
        last = table.splitlines()[-1]
        assert last.startswith(f"CPU: {common.cpu_model()}")
        assert "CPU:" not in common.format_table([{"name": "a"}], cols, markdown=markdown)
    names = {name for _, name in common.MATRIX_ISA}
    isa = common.matrix_instruction_sets()
    assert set(isa) <= names and all(name in common.cpu_line() for name in isa)


def test_timeit_median():
    calls = []
    med, times = common.timeit(lambda: calls.append(1), repeat=5, warmup=2)
    assert len(calls) == 7 and len(times) == 5 and med >= 0


def test_machine_description():
    d = common.machine_description()
    assert d["cores"] >= 1 and "numpy" in d["versions"]
    assert "CPU:" in common.machine_markdown(d)
    assert isinstance(d["isa"], list) and set(d["isa"]) <= set(common.ISA_FLAGS)
    assert ("instruction sets" in common.machine_markdown(d)) == bool(d["isa"])


def test_quality_lookup_half_split_beats_gray(tmp_path, capsys):
    import quality

    md, js = tmp_path / "q.md", tmp_path / "q.json"
    rc = quality.main(
        [
            "--methods",
            "lookup",
            "--protocol",
            "both",
            "--photos",
            "coffee",
            "chelsea",
            "--size",
            "192",
            "--markdown",
            str(md),
            "--json",
            str(js),
        ]
    )
    assert rc == 0
    rows = json.loads(js.read_text())
    p1 = {r["variant"]: r for r in rows if r["protocol"] == 1 and r["image"] == "coffee"}
    assert p1["lookup"]["delta_e2000"] < p1[quality.GRAY]["delta_e2000"]
    assert {r["protocol"] for r in rows} == {1, 2}
    text = md.read_text()
    assert "Protocol 1: half-split" in text and "Protocol 2: leave-one-out" in text and "| lookup |" in text
    assert "lookup" in capsys.readouterr().out


def test_quality_recipes_match_method_configs():
    import quality

    for variant, recipe in quality.VARIANTS.items():
        if common.method_status(recipe["method"]) is None:
            _, dropped = common.filter_config(recipe["method"], recipe["config"])
            assert not dropped, f"{variant}: keys not in the config: {dropped}"


def test_speed_lookup_and_loop_baseline(tmp_path):
    import speed

    md = tmp_path / "p.md"
    rc = speed.main(
        [
            "--methods",
            "lookup",
            "--repeat",
            "1",
            "--max-size",
            "512",
            "--skip-big",
            "--skip-baselines",
            "--skip-dask",
            "--skip-demo",
            "--markdown",
            str(md),
        ]
    )
    assert rc == 0
    assert "| lookup |" in md.read_text()
    # the original project's loop reproduces a table lookup exactly
    gray = np.array([[0, 1], [1, 2]], np.uint8)
    rgb = np.array([[[10, 20, 30], [40, 50, 60]], [[40, 50, 60], [70, 80, 90]]], np.uint8)
    table = speed.seed_lookup_learn(rgb, gray)
    np.testing.assert_array_equal(speed.seed_lookup_apply(table, gray), rgb.astype(np.float32))


def test_stack_memory_runs_on_a_small_stack(tmp_path):
    import stack_memory

    r = stack_memory.main(["--planes", "3", "--side", "300", "--json", str(tmp_path / "r.json")])
    assert r["planes"] == 3 and r["peak_rss_mib"] > 0 and r["output_mib"] > 0 and r["series"] == 1
    assert json.loads((tmp_path / "r.json").read_text())["side"] == 300


def test_live_preview_and_full_resolution_propagate(tmp_path, capsys):
    import live

    rc = live.main(
        ["--sizes", "64", "600", "--models", "propagate", "--repeat", "1", "--json", str(tmp_path / "l.json")]
    )
    assert rc == 0
    rows = json.loads((tmp_path / "l.json").read_text())["rows"]
    small, big = rows
    assert small["grid"].startswith("(none") and small["ratio"] == 1.0
    # the preview's side adapts to its time (at most 512, never below 128)
    assert 128 <= max(int(v) for v in big["grid"].split("x")) <= 512
    assert big["preview_s"] > 0 and big["full_s"] > 0
    assert big["to_full_s"] == big["preview_s"] + big["full_s"]
    assert "time to preview" in capsys.readouterr().out


def test_slide_benchmark_runs_on_a_small_slide(tmp_path, capsys):
    import slide

    levels = slide.synthetic_slide(3000, chunk=1024)
    assert [a.shape for a in levels] == [(3000, 3000), (1500, 1500), (750, 750)]
    # a level is the photo's texture seen at its own scale, made on the fly
    np.testing.assert_array_equal(np.asarray(levels[1][:256, :256]), np.asarray(levels[0][:512:2, :512:2]))
    rc = slide.main(["--sizes", "1200", "--models", "lookup", "--json", str(tmp_path / "s.json")])
    assert rc == 0
    (row,) = json.loads((tmp_path / "s.json").read_text())["rows"]
    assert row["levels"] == 2 and row["preview_s"] > 0 and row["total_s"] >= row["preview_s"]
    out = capsys.readouterr().out
    assert row["peak_gib"] > 0 and "time to preview" in out and "- CPU: " in out
