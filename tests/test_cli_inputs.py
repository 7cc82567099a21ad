"""Bad input, each a typed error naming what is wrong and the fix, never a traceback (issue 9).

Command-line cases run the real entry point (``python -m hgq_ir.cli``) in a fresh process and
assert exit code 2 and exactly one line on stderr; the cases the CLI can check from the
arguments alone must also fail before TensorFlow or Keras is imported (``-X importtime`` lists
what the process imported). Library cases run in-process.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from hgq_ir.backends.registry import TARGETS

import hgq_ir
from hgq_ir.ir.errors import (
    ConfigError,
    FormatError,
    GraphError,
    InternalError,
    ModelFileError,
    TableTooLargeError,
    UnsupportedLayerError,
)
from hgq_ir.training.calibrate import trace_minmax
from hgq_ir.training.layers import HActivation, HDense, HQuantize

HEAVY = ("tensorflow", "keras", "tf_keras", "h5py")


# ---- helpers --------------------------------------------------------------------------------
def run_cli(*args: str, cwd: Path | None = None, quiet: bool = True) -> tuple[int, list[str], set[str], str]:
    """``hgq-ir ARGS`` in a fresh process: exit code, stderr lines, modules imported, stdout.

    ``quiet=False`` sets ``TF_CPP_MIN_LOG_LEVEL=0``: the CLI then leaves stderr open while it
    imports TensorFlow, so ``-X importtime`` lists TensorFlow's modules when it is imported.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3" if quiet else "0"}
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "hgq_ir.cli", *args], capture_output=True,
                         text=True, cwd=cwd, env=env, check=False)
    lines = res.stderr.splitlines()
    imported = {line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")}
    err = [line for line in lines if line.strip() and not line.startswith("import time:")]
    return res.returncode, err, imported, res.stdout


def assert_user_error(args: tuple[str, ...], *fragments: str, before_tensorflow: bool = True,
                      cwd: Path | None = None) -> str:
    """Exit code 2, one line on stderr holding every fragment; no TensorFlow/Keras import if asked."""
    code, err, imported, out = run_cli(*args, cwd=cwd, quiet=not before_tensorflow)
    assert code == 2, (args, code, err, out)
    assert len(err) == 1, (args, err)
    assert err[0].startswith("hgq-ir: error: "), err
    for fragment in fragments:
        assert fragment in err[0], (fragment, err[0])
    if before_tensorflow:
        heavy = {m for m in imported if m.split(".")[0] in HEAVY}
        assert not heavy, (args, sorted(heavy)[:5])
    return err[0]


def small_model(name: str = "small", activation: str = "tanh") -> keras.Model:
    """HQuantize -> HDense(relu) -> HActivation -> HDense, traced on normal samples."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8,), name="x")
    h = HQuantize(name="q_in")(inp)
    h = HDense(6, activation="relu", name="hidden")(h)
    h = HActivation(activation, name="act")(h)
    model = keras.Model(inp, HDense(3, name="head")(h), name=name)
    trace_minmax(model, calib(), verbose=False)
    return model


def calib(n: int = 256) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32)


def patched_config(model: keras.Model, edit: Any) -> keras.Model:
    """``model`` whose get_config() returns an edited copy (what a hand-edited config gives)."""
    config = copy.deepcopy(model.get_config())
    edit(config)
    model.get_config = lambda: config
    return model


def config_layer(config: dict, name: str) -> dict:
    return next(entry for entry in config["layers"] if entry["config"]["name"] == name)


def ranges(model: keras.Model) -> list[np.ndarray]:
    return [v.numpy().copy() for layer in model.layers if hasattr(layer, "paq") and layer.paq.minmax_record
            for v in (layer.paq._min, layer.paq._max)]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Saved models: good (.keras, .h5), one with a gelu activation (a LUT), an unsupported layer, huge bits."""
    d = tmp_path_factory.mktemp("cli_inputs")
    out = {"keras": d / "small.keras", "h5": d / "small.h5", "gelu": d / "gelu.keras", "gru": d / "gru.keras",
           "huge_bits": d / "huge_bits.keras",
           "huge_kernel_bits": d / "huge_kernel_bits.keras"}
    model = small_model()
    model.save(out["keras"])
    model.save(out["h5"])
    small_model("gelu", activation="gelu").save(out["gelu"])
    keras.utils.set_random_seed(0)
    inp = keras.Input((5, 3), name="seq")
    h = keras.layers.GRU(4, name="my_gru")(HQuantize(name="q_in")(inp))
    gru = keras.Model(inp, HDense(2, name="head")(h))
    trace_minmax(gru, np.random.default_rng(0).normal(size=(64, 5, 3)).astype(np.float32), verbose=False)
    gru.save(out["gru"])
    huge = small_model("huge")
    q = huge.get_layer("q_in").paq.fbw
    q.assign(np.full(q.shape, 1e9, np.float32))  # what a corrupt or diverged model holds
    huge.save(out["huge_bits"])
    huge = small_model("huge_kernel")
    kq = huge.get_layer("hidden").kq.fbw
    kq.assign(np.full(kq.shape, 200.0, np.float32))  # 2**200 overflows float32: an inf/NaN kernel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        huge.save(out["huge_kernel_bits"])
    return out


# ---- the command line: files ----------------------------------------------------------------
def test_version_prints_without_tensorflow() -> None:
    code, err, imported, out = run_cli("--version")
    assert code == 0 and out.strip() == f"hgq-ir {hgq_ir.__version__}" and not err
    assert not {m for m in imported if m.split(".")[0] in HEAVY}


def test_the_import_check_sees_tensorflow(files: dict[str, Path]) -> None:
    # the other tests' "no TensorFlow" assertion is not vacuous: a command that runs does import it
    code, _, imported, out = run_cli("inspect", str(files["keras"]), quiet=False)
    assert code == 0 and "graph small(%x)" in out
    assert "tensorflow" in imported and "keras" in imported


def test_missing_model_fails_fast_before_tensorflow(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    assert_user_error(("convert", str(tmp_path / "missing.keras")), "missing.keras", "does not exist")
    assert time.perf_counter() - t0 < 3.0  # about 0.4 s; TensorFlow's import alone takes 5-9 s


@pytest.mark.parametrize("cut", ["half", "tail"])
def test_truncated_keras_file(files: dict[str, Path], tmp_path: Path, cut: str) -> None:
    whole = files["keras"].read_bytes()
    bad = tmp_path / "truncated.keras"
    bad.write_bytes(whole[:len(whole) // 2] if cut == "half" else whole[:-100])
    assert_user_error(("report", str(bad)), "truncated.keras", "truncated or corrupt")


def test_empty_and_not_hdf5_model_files(tmp_path: Path) -> None:
    (tmp_path / "empty.keras").write_bytes(b"")
    assert_user_error(("report", str(tmp_path / "empty.keras")), "empty.keras", "empty (0 bytes)")
    (tmp_path / "notes.h5").write_text("hello")
    assert_user_error(("verify", str(tmp_path / "notes.h5")), "cannot read model file", "HDF5 signature")


def test_truncated_h5_file(files: dict[str, Path], tmp_path: Path) -> None:
    whole = files["h5"].read_bytes()
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(whole[:len(whole) // 2])  # the signature survives: Keras itself finds the cut
    assert_user_error(("report", str(bad)), "cannot read model file", "truncated", before_tensorflow=False)


def test_corrupt_keras_file(files: dict[str, Path], tmp_path: Path) -> None:
    flipped = bytearray(files["keras"].read_bytes())
    flipped[len(flipped) // 3] ^= 0xFF
    bad = tmp_path / "flipped.keras"
    bad.write_bytes(bytes(flipped))
    assert_user_error(("convert", str(bad), "--to", "ir"), "flipped.keras", "corrupt", before_tensorflow=False)


def test_not_a_model_file(tmp_path: Path) -> None:
    assert_user_error(("inspect", str(tmp_path)), "is a folder, not a model file")
    np.save(tmp_path / "x.npy", np.zeros((3, 8)))
    assert_user_error(("report", str(tmp_path / "x.npy")), "x.npy", "is not a model file", ".keras")
    import zipfile

    with zipfile.ZipFile(tmp_path / "other.keras", "w") as z:
        z.writestr("hello.txt", "a zip, not a Keras model")
    assert_user_error(("report", str(tmp_path / "other.keras")), "cannot read model file", "config.json",
                      before_tensorflow=False)


def test_unsupported_layer_names_it(files: dict[str, Path]) -> None:
    assert_user_error(("convert", str(files["gru"]), "--to", "ir"), "my_gru", "GRU", "not supported",
                      before_tensorflow=False)


def test_bitwidths_out_of_range_name_the_layer(files: dict[str, Path]) -> None:
    # used to be an internal error (exit 3) from the proxy emitter
    assert_user_error(("convert", str(files["huge_bits"])), "layer 'q_in' (HQuantize)", "f1000000000", "bw_clip",
                      before_tensorflow=False)
    # numpy's overflow warnings on the way do not reach stderr: one line
    assert_user_error(("report", str(files["huge_kernel_bits"])), "layer 'hidden' (HDense)", "bw_clip",
                      before_tensorflow=False)


def test_lut_too_large(files: dict[str, Path], tmp_path: Path) -> None:
    assert_user_error(("convert", str(files["gelu"]), "--lut-size", "4", "--out", str(tmp_path / "g.keras")),
                      "'act' (gelu)", "table of 16 entries", "unary_lut_max_table_size=4", before_tensorflow=False)
    assert not list(tmp_path.iterdir())


# ---- the command line: arguments -------------------------------------------------------------
@pytest.mark.parametrize("args, fragments", [
    ((), ("required: command", "hgq-ir --help")),
    (("convert",), ("required: model", "hgq-ir convert --help")),
    (("convert", "m.keras", "--bogus"), ("unrecognized arguments: --bogus",)),
    (("frobnicate",), ("invalid choice: 'frobnicate'",)),
    (("convert", "m.keras", "--to", "vivado"), ("invalid choice: 'vivado'",)),
    (("verify", "m.keras", "--samples"), ("--samples: expected one argument",)),
    (("verify", "m.keras", "--samples", "ten"), ("invalid int value: 'ten'",)),
    (("demo", "--epochs", "1.5"), ("invalid int value: '1.5'",)),
])
def test_argparse_errors_are_one_line(args: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    assert_user_error(args, *fragments)


@pytest.mark.parametrize("samples", ["0", "-5"])
def test_samples_must_be_positive(files: dict[str, Path], samples: str) -> None:
    assert_user_error(("verify", str(files["keras"]), "--samples", samples), "--samples must be >= 1")


def test_data_missing_or_not_an_array(files: dict[str, Path], tmp_path: Path) -> None:
    model = str(files["keras"])
    assert_user_error(("verify", model, "--data", str(tmp_path / "nope.npy")), "nope.npy", "does not exist")
    (tmp_path / "x.csv").write_text("1,2,3\n")
    assert_user_error(("verify", model, "--data", str(tmp_path / "x.csv")), "expected a .npy file")
    (tmp_path / "garbage.npy").write_bytes(b"\x93NUMPY not really")
    assert_user_error(("verify", model, "--data", str(tmp_path / "garbage.npy")), "garbage.npy",
                      "not a readable .npy array")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    assert_user_error(("verify", model, "--data", str(tmp_path / "objects.npy")), "objects.npy",
                      "not a readable .npy array")
    np.save(tmp_path / "words.npy", np.array([["a", "b"]]))
    assert_user_error(("verify", model, "--data", str(tmp_path / "words.npy")), "not numbers")
    np.save(tmp_path / "flat.npy", np.zeros(8))
    assert_user_error(("verify", model, "--data", str(tmp_path / "flat.npy")), "shape (8,)", "one row per sample")
    np.save(tmp_path / "none.npy", np.zeros((0, 8)))
    assert_user_error(("verify", model, "--data", str(tmp_path / "none.npy")), "N >= 1")
    x = calib(20)
    x[[3, 7], 2] = [np.nan, np.inf]
    np.save(tmp_path / "nan.npy", x)
    assert_user_error(("verify", model, "--data", str(tmp_path / "nan.npy")), "2 of 20 rows hold NaN or Inf",
                      "first: row 3")


def test_data_of_the_wrong_shape(files: dict[str, Path], tmp_path: Path) -> None:
    np.save(tmp_path / "wide.npy", np.zeros((4, 9), np.float32))
    assert_user_error(("verify", str(files["keras"]), "--data", str(tmp_path / "wide.npy")), "rows of shape (9,)",
                      "'x' takes rows of shape (8,)", before_tensorflow=False)


def test_out_in_a_missing_folder_or_with_a_wrong_suffix(files: dict[str, Path], tmp_path: Path) -> None:
    model = str(files["keras"])
    assert_user_error(("convert", model, "--out", str(tmp_path / "nowhere" / "p.keras")), "nowhere",
                      "does not exist")
    assert_user_error(("convert", model, "--out", str(tmp_path / "p.h5")), "p.h5", "writes .keras files")
    assert_user_error(("convert", model, "--to", "ir", "--out", str(tmp_path / "ir.keras")), "writes .txt files")
    (tmp_path / "folder.keras").mkdir()
    assert_user_error(("convert", model, "--out", str(tmp_path / "folder.keras")), "is a folder")
    (tmp_path / "file").write_text("")
    assert_user_error(("convert", model, "--out", str(tmp_path / "file" / "p.keras")), "is not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder.keras"]


def read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make ``os.access`` call ``folder`` read-only, as it does for a user without write permission."""
    real = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        if Path(path).absolute() == folder.absolute() and mode & os.W_OK:
            return False
        return real(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)


def test_read_only_folders_in_process(files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture) -> None:
    from hgq_ir.cli import main

    (tmp_path / "ro").mkdir()
    read_only(monkeypatch, tmp_path / "ro")
    cases = [(["convert", str(files["keras"]), "--out", str(tmp_path / "ro" / "p.keras")], "not writable"),
             (["demo", "--out", str(tmp_path / "ro")], "is not writable"),
             (["demo", "--out", str(tmp_path / "ro" / "a" / "b")], "cannot create")]
    for argv, fragment in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and fragment in err, (argv, err)
    monkeypatch.chdir(tmp_path / "ro")
    assert main(["convert", str(files["keras"])]) == 2
    assert "folder '.' is not writable" in capsys.readouterr().err
    assert not list((tmp_path / "ro").iterdir())


@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_demo_epochs_must_be_positive(tmp_path: Path, epochs: str) -> None:
    assert_user_error(("demo", "--out", str(tmp_path / "d"), "--epochs", epochs), "--epochs must be", ">= 1")
    assert not (tmp_path / "d").exists()


def test_demo_out_unwritable(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    assert_user_error(("demo", "--out", str(tmp_path / "a_file")), "is a file, not a folder")
    assert_user_error(("demo", "--out", str(tmp_path / "a_file" / "sub" / "dir")), "cannot create",
                      "is a file, not a folder")


def test_demo_checks_come_before_training(tmp_path: Path) -> None:
    from hgq_ir.demo import run_demo

    with pytest.raises(ConfigError, match="--epochs must be"):
        run_demo(out_dir=str(tmp_path / "d"), epochs=0)
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        run_demo(out_dir=str(tmp_path / "f"), epochs=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


# ---- the library ------------------------------------------------------------------------------
def test_model_suffixes_agree_with_the_frontend_registry() -> None:
    from hgq_ir.frontends.registry import MODEL_SUFFIXES as FRONTEND_SUFFIXES

    from hgq_ir.convert import MODEL_SUFFIXES

    assert MODEL_SUFFIXES == FRONTEND_SUFFIXES


def test_load_model_errors(tmp_path: Path, files: dict[str, Path]) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        hgq_ir.load_model(tmp_path / "missing.keras")
    whole = files["keras"].read_bytes()
    (tmp_path / "cut.keras").write_bytes(whole[:100])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        hgq_ir.lift(str(tmp_path / "cut.keras"))
    assert isinstance(hgq_ir.load_model(files["h5"]), keras.Model)


@pytest.mark.parametrize("obj", [42, {"layers": []}, "model.txt", keras.layers.Dense(3), np.zeros((2, 2))])
def test_non_keras_objects(obj: Any) -> None:
    with pytest.raises((UnsupportedLayerError, ModelFileError), match="hgq-ir reads"):
        hgq_ir.convert(obj, to="ir")


def test_duplicate_layer_names() -> None:
    def rename_head(config: dict) -> None:
        head = config_layer(config, "head")
        head["name"] = head["config"]["name"] = "hidden"

    model = patched_config(small_model(), rename_head)
    with pytest.raises(GraphError, match="two layers named 'hidden' \\(HDense and HDense\\).*unique"):
        hgq_ir.lift(model)
    seq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"), keras.layers.Dense(2, name="b")])
    seq = patched_config(seq, lambda c: c["layers"][2]["config"].update(name="a"))
    with pytest.raises(GraphError, match="two layers named 'a'"):
        hgq_ir.convert(seq, to="ir")


def test_inconsistent_shapes_name_the_layer() -> None:
    model = patched_config(small_model(), lambda c: config_layer(c, "x")["config"].update(batch_shape=[None, 9]))
    with pytest.raises(GraphError, match="layer 'hidden' \\(HDense\\).*\\(9,\\).*kernel shape \\(8, 6\\).*rebuild"):
        hgq_ir.lift(model)

    inp = keras.Input((6,), name="x")
    r = keras.layers.Reshape((3, 2), name="r")(inp)
    plain = keras.Model(inp, keras.layers.Flatten(name="f")(r))
    plain.get_layer("r").get_config = lambda: {"name": "r", "target_shape": (0, -1)}
    with pytest.raises(GraphError, match="layer 'r' \\(Reshape\\).*cannot reshape \\(6,\\)"):
        hgq_ir.lift(plain)

    def wrong_tensor(c: dict) -> None:
        config_layer(c, "f")["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["r", 0, 2]

    # Keras writes the configs it loads, so a reference to nothing is hgq-ir misreading one: not the user's to fix
    plain = keras.Model(inp, keras.layers.Flatten(name="f")(keras.layers.Reshape((3, 2), name="r")(inp)))
    with pytest.raises(InternalError, match="layer 'f' reads output #2 of call 0 of layer 'r', but hgq-ir lifted "
                                            "call 0 output #0"):
        hgq_ir.lift(patched_config(plain, wrong_tensor))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_huge_bitwidths_name_the_layer() -> None:
    model = small_model()
    fbw = model.get_layer("q_in").paq.fbw
    fbw.assign(np.full(fbw.shape, 1e9, np.float32))
    for to in TARGETS:
        with pytest.raises(FormatError, match="layer 'q_in' \\(HQuantize\\).*beyond the \\+-127"):
            hgq_ir.convert(model, to=to)
    model = small_model()
    kq = model.get_layer("hidden").kq.fbw
    kq.assign(np.full(kq.shape, 200.0, np.float32))  # 2**200 overflows float32: an inf/NaN kernel
    with pytest.raises(FormatError, match="layer 'hidden' \\(HDense\\).*bw_clip"):
        hgq_ir.convert(model, to="ir")


def test_bitwidths_that_make_the_model_compute_nan_are_refused_by_trace_minmax() -> None:
    model = small_model()
    before = ranges(model)
    fbw = model.get_layer("q_in").paq.fbw
    fbw.assign(np.full(fbw.shape, np.nan, np.float32))
    with pytest.raises(FormatError, match="layer 'q_in' \\(HQuantize\\) computed NaN.*bw_clip"):
        trace_minmax(model, calib(), verbose=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, ranges(model), strict=True))


def test_nan_and_inf_in_calibration_data() -> None:
    model = small_model()
    before = ranges(model)
    x = calib(64)
    x[5, 1], x[9, 0], x[40, 7] = np.nan, np.inf, -np.inf
    with pytest.raises(ConfigError, match="input 0 \\('x'\\) has 3 of 64 rows holding NaN or Inf \\(first: row 5\\)"):
        trace_minmax(model, x, verbose=False)
    batches = (np.nan_to_num(x[i:i + 16]) if i < 32 else x[i:i + 16] for i in range(0, 64, 16))
    with pytest.raises(ConfigError, match="has 1 of 16 rows \\(batch 2\\) holding NaN or Inf \\(first: row 40\\)"):
        trace_minmax(model, batches, verbose=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, ranges(model), strict=True))  # ranges kept


def test_empty_calibration_set() -> None:
    model = small_model()
    before = ranges(model)
    for data in (np.zeros((0, 8), np.float32), [], iter(())):
        with pytest.raises(ConfigError, match="the dataset is empty"):
            trace_minmax(model, data, verbose=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, ranges(model), strict=True))


def test_calibration_data_of_the_wrong_shape_or_kind() -> None:
    model = small_model()
    with pytest.raises(ConfigError, match="input 0 \\('x'\\) expects rows of shape \\(8,\\).*\\(32, 7\\)"):
        trace_minmax(model, calib(32)[:, :7], verbose=False)
    with pytest.raises(ConfigError, match="the model has 1 inputs.*holds 2 arrays"):
        trace_minmax(model, [calib(32), calib(32)], verbose=False)
    with pytest.raises(ConfigError, match="holds <U1 values"):
        trace_minmax(model, np.full((4, 8), "a"), verbose=False)
    with pytest.raises(ConfigError, match="bsz .* >= 1, got 0"):
        trace_minmax(model, calib(32), bsz=0, verbose=False)


def test_lut_too_large_names_the_activation() -> None:
    with pytest.raises(TableTooLargeError, match="'act' \\(gelu\\).*unary_lut_max_table_size=4"):
        hgq_ir.convert(small_model(activation="gelu"), unary_lut_max_table_size=4)
