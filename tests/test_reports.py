"""Reports people look at (issue 12): the PNG, the JSON, the notebook views, progress and --quiet."""

from __future__ import annotations

import io
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import zoo
from PIL import Image

import hgq_ir
from hgq_ir.cli import main
from hgq_ir.convert import lift, run_passes
from hgq_ir.progress import Progress, quiet
from hgq_ir.reporting import SCHEMA, Report, layer_report, report
from hgq_ir.training.calibrate import trace_minmax
from hgq_ir.training.layers import HConv2D, HDense, HQuantize, PFlatten


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, tuple[Path, float]]:
    """Saved models and trace_minmax's BOPs: the demo MLP (2 epochs), zoo conv2d, a plain conv net."""
    from hgq_ir.demo import build_model, load_digits_split

    out = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    xtr, ytr, _, _ = load_digits_split()
    demo = build_model()
    demo.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    demo.fit(xtr, ytr, epochs=2, batch_size=64, verbose=0)
    models = {"demo": (demo, trace_minmax(demo, xtr, verbose=False))}
    conv2d, x_calib, _ = zoo.conv2d()
    models["conv2d"] = (conv2d, trace_minmax(conv2d, x_calib, verbose=False))
    inp = keras.Input((6, 6, 2), name="img")
    h = HConv2D(3, 3, activation="relu", name="conv")(HQuantize(name="q")(inp))
    plain = keras.Model(inp, HDense(4, name="head")(PFlatten(name="flat")(h)), name="plain_conv")
    zoo.randomize(plain, 7)
    x = zoo.data((6, 6, 2), 7, n=512)[0]
    models["plain_conv"] = (plain, trace_minmax(plain, x, verbose=False))
    files = {}
    for name, (model, bops) in models.items():
        model.save(out / f"{name}.keras")
        files[name] = (out / f"{name}.keras", bops)
    return files


def check_png(path: Path) -> None:
    """Opens, is larger than 600 x 600 px, holds more than one colour and is not blank."""
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 600 and im.height > 600, (im.format, im.size)
        rgb = np.asarray(im.convert("RGB"))
    colours = np.unique(rgb.reshape(-1, 3), axis=0)
    assert len(colours) > 10, len(colours)
    assert np.mean(np.any(rgb != 255, axis=-1)) > 0.05  # not a white page


def text_total(stdout: str) -> float:
    return float(next(line for line in stdout.splitlines() if line.startswith("total BOPs: ")).split(": ")[1])


@pytest.mark.parametrize("name", ["demo", "conv2d", "plain_conv"])
def test_cli_report_writes_png_and_json_matching_the_text(saved, name, tmp_path, capsys):
    model, traced_bops = saved[name]
    assert main(["report", str(model)]) == 0
    text = capsys.readouterr().out
    png, out_json = tmp_path / "r.png", tmp_path / "r.json"
    assert main(["report", str(model), "--plot", str(png), "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {png}" in out and f"wrote {out_json}" in out and "total BOPs" in out
    check_png(png)
    data = json.loads(out_json.read_text())
    assert main(["report", str(model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == data  # stdout holds only the JSON
    assert data["schema"] == SCHEMA and f"{data['total_bops']:.0f}" == f"{text_total(text):.0f}"  # text: whole BOPs
    assert data["total_bops"] == sum(layer["bops"] or 0.0 for layer in data["layers"])
    if name != "conv2d":  # see test_conv2d_bops_differ_from_trace_minmax
        assert data["total_bops"] == traced_bops
    graph = lift(str(model))
    run_passes(graph)
    assert [r["node"] for r in data["nodes"]] == [n.name for n in graph.nodes if not n.op.is_source]
    for layer in data["layers"]:
        for entry in [*(w["bits"] for w in layer["weights"]), *([layer["output"]["bits"]] if layer["output"] else [])]:
            assert sum(c for _, c in entry["histogram"]) == entry["elements"] > 0
            zero = dict(map(tuple, entry["histogram"])).get(0, 0)
            assert entry["zero_bit_fraction"] == zero / entry["elements"]


def test_conv2d_bops_differ_from_trace_minmax(saved):
    # Explained (hgq_ir/reporting.py docstring, tests/passes/test_bops_vs_trace.py): the report counts
    # the formats a layer reads; trace_minmax (= upstream HGQ 0.2.6: 2279.159722...) takes a pool's
    # output width as the max-pool of its input widths. So only the layers after the max pool (c2_bn)
    # and the average pool (c3) count more in the report; c1 is equal.
    path, traced_bops = saved["conv2d"]
    rep = report(str(path))
    model = keras.models.load_model(path)
    traced = {layer.name: layer.compute_exact_bops() for layer in model.layers if getattr(layer, "has_kernel", False)}
    assert sum(traced.values()) == traced_bops
    ir = {layer.name: layer.bops for layer in rep.layers if layer.bops is not None}
    assert sorted(ir) == sorted(traced) == ["c1", "c2_bn", "c3"]
    assert ir["c1"] == traced["c1"]
    assert ir["c2_bn"] > traced["c2_bn"] and ir["c3"] > traced["c3"]
    assert rep.total_bops > traced_bops


def test_report_object_kernels_html_and_pages(saved, tmp_path):
    rep = hgq_ir.report(str(saved["conv2d"][0]))
    assert isinstance(rep, Report) and rep.table == layer_report(rep.graph) and str(rep) == rep.table
    kernels = {k: v.shape for layer in rep.layers for k, v in layer.kernels.items()}
    assert kernels == {"c1_op.kernel": (18, 3), "c2_bn_op.kernel": (12, 4), "c3_op.kernel": (16, 4)}
    paths = rep.plot(tmp_path / "conv.png", layers_per_page=3)
    assert [p.name for p in paths] == ["conv.png", "conv_p2.png", "conv_p3.png"]
    for p in paths:
        check_png(p)
    for html in (rep._repr_html_(), rep.graph._repr_html_()):
        for node in rep.graph.nodes:
            assert node.name in html
    assert "fx&lt;k" in rep.graph._repr_html_()  # formats, escaped
    assert json.loads(rep.to_json())["layers"][1]["name"] == "c1"


def test_html_escapes_names():
    g = hgq_ir.Graph("<script>")
    x = g.add_input("<b>x</b>", (3,), hgq_ir.FixedFormat(1, 2, 3))
    g.set_outputs([x])
    html = g._repr_html_() + hgq_ir.report(g)._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "<script>" not in html


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_one_line_on_a_terminal_few_in_a_log_none_when_quiet():
    log = io.StringIO()
    list(Progress("trace_minmax", total=40, unit="batch", stream=log).iterate(range(40)))
    lines = log.getvalue().splitlines()
    assert len(lines) == 4 and lines[0] == "trace_minmax: 10/40 batches" and lines[-1].startswith(
        "trace_minmax: done (40 batches,")
    term = Terminal()
    with Progress("verify", total=3, stream=term) as p:
        for step in ("a", "b", "c"):
            p.step(step)
    assert term.getvalue().count("\n") <= 1 and "3/3" in term.getvalue()
    log = io.StringIO()
    with Progress("verify", total=2, stream=log) as p:
        p.step("proxy")
        p.step("hls4ml: compiling")
    assert log.getvalue().splitlines()[:2] == ["verify [1/2] proxy", "verify [2/2] hls4ml: compiling"]
    silent = io.StringIO()
    with quiet():
        list(Progress("x", total=3, stream=silent).iterate(range(3)))
        with Progress("y", total=1, stream=silent) as p:
            p.step("z")
    assert silent.getvalue() == ""


def test_trace_minmax_progress_goes_to_stderr_and_quiet_silences_it(saved, capfd):
    model = keras.models.load_model(saved["demo"][0])
    x = np.random.default_rng(0).uniform(0, 1, (64, 64)).astype(np.float32)
    trace_minmax(model, x, bsz=16, verbose=False, progress=True)
    err = capfd.readouterr().err
    assert "trace_minmax: done (4 batches" in err
    with quiet():
        trace_minmax(model, x, bsz=16, verbose=False, progress=True)
    assert capfd.readouterr().err == ""


def test_cli_report_refuses_bad_output_names(saved, tmp_path, capsys):
    model = str(saved["demo"][0])
    assert main(["report", model, "--plot", str(tmp_path / "r.jpg")]) == 2
    assert "--plot" in capsys.readouterr().err
    assert main(["--quiet", "report", model, "--json", str(tmp_path / "nowhere" / "r.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
