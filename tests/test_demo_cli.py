"""The README's main command (`hgq-ir demo`) and the other CLI commands, end to end."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hgq_ir.cli import main


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--epochs", "8"]) == 0
    return out


def test_demo_writes_model_and_proxy_and_reports_exactness(demo_dir, capsys):
    assert (demo_dir / "digits_mlp.keras").is_file()
    assert (demo_dir / "digits_mlp_proxy.keras").is_file()


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
    assert main(["verify", model, "--samples", "200"]) == 0
    assert "100.00% of 200 rows" in capsys.readouterr().out


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
