"""The README's main command (`hgq-ir demo`) and the other CLI commands, end to end."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hgq_ir.cli import main


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``hgq-ir ARGS`` in a fresh process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "hgq_ir.cli", *args], capture_output=True, text=True,
                          env=env, check=False)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, str]:
    """The demo's output folder and what it printed."""
    out = tmp_path_factory.mktemp("demo")
    res = run_cli("demo", "--out", str(out), "--epochs", "8")
    assert res.returncode == 0, res.stdout + res.stderr
    return out, res.stdout


@pytest.fixture(scope="module")
def demo_dir(demo_run) -> Path:
    return demo_run[0]


def exactness_table(stdout: str) -> dict[str, tuple[str, str, str]]:
    """The verification table (``hgq_ir.verify``): executor -> (compared with, exact rows, note)."""
    import re

    lines = stdout.splitlines()
    start = next(j for j, line in enumerate(lines) if line.startswith("executor "))
    rows = {}
    for line in lines[start + 2:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = (cells[1], cells[2], cells[3] if len(cells) > 3 else "")
    return rows


EXECUTORS = ["source model (Keras predict)", "IR interpreter (proxy legalization)", "Keras proxy",
             "onnxruntime (onnx target)", "qonnx executor (qonnx target)", "hls4ml C simulation"]


def test_demo_converts_to_every_target_and_every_executor_is_exact(demo_run):
    demo_dir, stdout = demo_run
    files = sorted(p.name for p in demo_dir.iterdir() if p.is_file())
    assert files == ["digits_mlp.keras", "digits_mlp_hls4ml.json", "digits_mlp_ir.txt", "digits_mlp_onnx.onnx",
                     "digits_mlp_proxy.keras", "digits_mlp_qonnx.onnx", "digits_mlp_report.json",
                     "digits_mlp_report.png"], files
    # the report beside the models, and where it is: a picture and the numbers
    assert (f"report: {demo_dir / 'digits_mlp_report.png'} (picture) and {demo_dir / 'digits_mlp_report.json'} "
            "(JSON)") in stdout
    import json

    from PIL import Image

    with Image.open(demo_dir / "digits_mlp_report.png") as im:
        assert im.size == (1600, 900)
    report = json.loads((demo_dir / "digits_mlp_report.json").read_text())
    assert f"total BOPs: {report['total_bops']:.0f}" in stdout
    assert [layer["name"] for layer in report["layers"]] == ["inputs_q", "hidden", "logits"]
    assert "[1/5] training" in stdout and "[5/5] report" in stdout
    table = exactness_table(stdout)
    assert list(table) == EXECUTORS, stdout
    for name in EXECUTORS[1:]:
        assert table[name][1] == "100.00% of 397 rows", (name, stdout)
    # the HGQ model itself, on its calibration (training) rows: inside the traced ranges by construction
    assert table[EXECUTORS[0]][:2] == ("IR interpreter, calibration rows", "100.00% of 1400 rows"), stdout
    assert "bit-exact: yes (" + ", ".join(e for e in EXECUTORS if "legalization" not in e) + ")" in stdout


def test_demo_without_gpp_says_the_firmware_check_was_not_run(tmp_path):
    # a PATH without g++ (nor anything else): the demo must not pass quietly, even with --quiet
    env = {**os.environ, "PATH": str(tmp_path)}
    res = run_cli("--quiet", "demo", "--out", str(tmp_path / "out"), "--epochs", "2", env=env)
    assert res.returncode == 0, res.stderr
    # --quiet: no steps, epochs nor calibration progress; the results stay
    assert "[1/5]" not in res.stdout and "epoch" not in res.stdout and "trace_minmax" not in res.stderr, res.stdout
    assert "total BOPs" in res.stdout and "report: " in res.stdout
    table = exactness_table(res.stdout)
    assert table["Keras proxy"][1] == "100.00% of 397 rows"
    assert table["onnxruntime (onnx target)"][1] == "100.00% of 397 rows"
    assert table["hls4ml C simulation"][1:] == ("not run", "g++ not found: install g++ to compile hls4ml's C "
                                                "simulation"), res.stdout
    assert "the firmware was NOT checked" in res.stdout


def test_cli_report_inspect_convert_verify(demo_dir, capsys, tmp_path):
    model = str(demo_dir / "digits_mlp.keras")
    assert main(["report", model]) == 0
    out = capsys.readouterr().out
    assert "total BOPs" in out and "hidden_op" in out and "WRAP" in out
    assert main(["inspect", model, "--after", "assign_overflow", "--diff", "--conservative"]) == 0
    out = capsys.readouterr().out
    assert "+  %hidden: fx<" in out and "SAT>" in out
    assert main(["convert", model, "--to", "ir", "--out", str(tmp_path / "ir.txt")]) == 0
    assert (tmp_path / "ir.txt").read_text().startswith("graph digits_mlp(%pixels)")
    assert main(["convert", model, "--out", str(tmp_path / "p.keras")]) == 0
    assert (tmp_path / "p.keras").is_file()
    for to, name in (("qonnx", "q.onnx"), ("hls4ml", "c.json")):
        assert main(["convert", model, "--to", to, "--out", str(tmp_path / name)]) == 0
        assert f"wrote {tmp_path / name}" in capsys.readouterr().out
    import json

    import onnx
    from qonnx.core.modelwrapper import ModelWrapper

    onnx.checker.check_model(onnx.load(tmp_path / "q.onnx"), full_check=True)
    assert any(n.op_type == "Quant" for n in ModelWrapper(str(tmp_path / "q.onnx")).graph.node)
    assert json.loads((tmp_path / "c.json").read_text())["LayerName"]["hidden_op"]["ReuseFactor"] == 1
    assert main(["verify", model, "--samples", "200"]) == 0
    table = exactness_table(capsys.readouterr().out)
    assert [table[e][1] for e in EXECUTORS[1:5]] == ["100.00% of 200 rows"] * 4 and "hls4ml C simulation" not in table


def test_cli_errors_are_typed_and_short(demo_dir, tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing.keras")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "garbage.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["report", str(bad)]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err
    whole = (demo_dir / "digits_mlp.keras").read_bytes()
    for cut in (len(whole) // 2, len(whole) - 100):
        truncated = tmp_path / f"truncated_{cut}.keras"
        truncated.write_bytes(whole[:cut])
        assert main(["convert", str(truncated), "--out", str(tmp_path / "p.keras")]) == 2
        err = capsys.readouterr().err
        assert "truncated_" in err and "truncated or corrupt" in err and len(err.splitlines()) == 1
    flipped = bytearray(whole)
    flipped[len(whole) // 3] ^= 0xFF
    (tmp_path / "flipped.keras").write_bytes(bytes(flipped))
    assert main(["report", str(tmp_path / "flipped.keras")]) == 2
    assert "corrupt" in capsys.readouterr().err
    not_keras = tmp_path / "notes.h5"
    not_keras.write_text("hello")
    assert main(["report", str(not_keras)]) == 2
    assert "cannot read model file" in capsys.readouterr().err


def test_demo_progress_is_one_live_line_on_a_terminal_and_sparse_lines_in_a_log():
    import io

    from hgq_ir.demo import progress_callback

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, lines in ((io.StringIO(), 13), (Terminal(), 1)):
        cb = progress_callback(25, stream)
        for epoch in range(25):
            cb.on_epoch_end(epoch, {"loss": 0.5, "accuracy": 0.9})
        text = stream.getvalue()
        assert text.count("\n") == lines and text.endswith("epoch 25/25  loss 0.500  acc 0.900\n")


def test_command_output_has_no_tensorflow_startup_lines(demo_dir):
    # as a user runs it: a fresh process, no TF_CPP_MIN_LOG_LEVEL set
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    res = subprocess.run([sys.executable, "-m", "hgq_ir.cli", "report", str(demo_dir / "digits_mlp.keras")],
                         capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 0, res.stderr
    assert "total BOPs" in res.stdout
    assert "oneDNN" not in res.stderr and "absl" not in res.stderr and "cuda" not in res.stderr, res.stderr


def test_inspect_names_each_run_and_shows_the_legalized_ir(demo_dir, capsys):
    model = str(demo_dir / "digits_mlp.keras")
    assert main(["inspect", model, "--after", "infer_formats"]) == 2
    err = capsys.readouterr().err
    assert "runs 2 times" in err and "infer_formats#1" in err and "infer_formats#2" in err
    assert main(["inspect", model, "--after", "infer_formats#2"]) == 0
    assert capsys.readouterr().out.startswith("# after infer_formats#2")
    assert main(["inspect", model, "--after", "cap_sat_fraction"]) == 2  # not in the core pipeline
    assert "cap_sat_fraction" in capsys.readouterr().err
    assert main(["inspect", model, "--target", "proxy", "--after", "cap_sat_fraction", "--conservative"]) == 0
    assert capsys.readouterr().out.startswith("# after cap_sat_fraction")
    assert main(["inspect", model, "--target", "proxy"]) == 0
    out = capsys.readouterr().out
    assert "legalization" in out and "graph digits_mlp(%pixels)" in out


def test_internal_errors_exit_3_naming_pass_and_node(demo_dir, capsys, monkeypatch):
    from hgq_ir.passes.select_lut import SelectLUT

    def broken(self, graph):  # noqa: ANN001, ANN202
        for node in graph.nodes:
            if node.name == "hidden_op":
                return 1 / 0
        return False

    monkeypatch.setattr(SelectLUT, "run", broken)
    model = str(demo_dir / "digits_mlp.keras")
    assert main(["report", model]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "internal error in pass 'select_lut'" in err and "'hidden_op'" in err and "please report" in err
    assert main(["--debug", "report", model]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" in err


def test_convert_writes_every_target_atomically(demo_dir, tmp_path, capsys):
    model = str(demo_dir / "digits_mlp.keras")
    assert main(["convert", model, "--to", "ir", "--out", str(tmp_path / "ir.txt")]) == 0
    assert main(["convert", model, "--to", "proxy", "--out", str(tmp_path / "p.keras")]) == 0
    assert main(["convert", model, "--to", "onnx", "--out", str(tmp_path / "e.onnx")]) == 0
    # no temporary left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.onnx", "ir.txt", "p.keras"]
    assert main(["convert", model, "--to", "proxy", "--out", str(tmp_path / "p.h5")]) == 2
    assert ".keras" in capsys.readouterr().err
    assert main(["convert", model, "--out", str(tmp_path / "nowhere" / "p.keras")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_verify_explains_a_mismatch_on_float_layers(tmp_path, capsys):
    import keras

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2, name="plain_head")(keras.layers.Dense(3, name="plain_dense")(inp)))
    model.save(tmp_path / "plain.keras")
    assert main(["verify", str(tmp_path / "plain.keras"), "--samples", "50"]) == 1
    out = capsys.readouterr().out
    assert "of 50 rows" in out and "not bit-exact, as the conversion warned" in out
    assert "plain_dense (Dense)" in out and "plain_head (Dense)" in out
