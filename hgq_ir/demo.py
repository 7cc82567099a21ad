"""``hgq-ir demo``: train a small HGQ model on scikit-learn's digits, convert it, prove it bit-exact.

Steps: train HQuantize -> HDense(32, relu) -> HDense(10) (progress line per epoch), calibrate
with ``trace_minmax``, convert to every target (IR text, Keras proxy, ONNX emulator, QONNX,
hls4ml configuration; files in ``out_dir``), then run every executor on the test set against
the reference interpreter (``hgq_ir.verify``: the HGQ model, the proxy, onnxruntime, qonnx's
executor, hls4ml's C simulation, which is reported as not run, loudly, when g++ is missing).
Prints accuracy, BOPs, the per-layer table and the exact-match table, and writes the report as
a picture and as JSON (``digits_mlp_report.png``, ``digits_mlp_report.json``) beside the models.
Returns 1 if any executor that ran differs from the interpreter on any row. Progress (the steps,
the epochs, calibration, the hls4ml compile) goes away under ``hgq_ir.progress.quiet()``
(``hgq-ir --quiet demo``); the results stay.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import TextIO

import numpy as np

from hgq_ir.ir.errors import ConfigError
from hgq_ir.progress import is_quiet

DEFAULT_EPOCHS = 100


def load_digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits, inputs scaled by 1/16: the first 1400 rows train, the rest test."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ConfigError("the demo needs scikit-learn for its data set: pip install 'hgq-ir[test]' "
                          "(or scikit-learn)") from e

    d = load_digits()
    x, y = d.data.astype(np.float32) / 16, d.target
    return x[:1400], y[:1400], x[1400:], y[1400:]


def build_model(beta: float = 1e-7):
    """The demo network: HQuantize -> HDense(32, relu) -> HDense(10)."""
    import keras

    from hgq_ir.training.layers import HDense, HQuantize

    return keras.Sequential([
        keras.Input((64,), name="pixels"),
        HQuantize(name="inputs_q", beta=beta),
        HDense(32, activation="relu", name="hidden", beta=beta),
        HDense(10, name="logits", beta=beta),
    ], name="digits_mlp")


def say(text: str) -> None:
    """Print one of the demo's progress lines (nothing under ``hgq_ir.progress.quiet()``)."""
    if not is_quiet():
        print(text, flush=True)


def progress_callback(epochs: int, stream: TextIO | None = None):
    """A Keras callback showing training progress (Keras imported only when the demo runs).

    On a terminal one line is rewritten every epoch; elsewhere (a CI log, a pipe) a line is
    printed every tenth of the run and at the last epoch, so logs stay readable; nothing when
    quiet.
    """
    import keras

    out = stream or sys.stdout
    live = out.isatty()
    every = max(1, epochs // 10)

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if is_quiet():
                return
            logs = logs or {}
            line = (f"  epoch {epoch + 1}/{epochs}  loss {logs.get('loss', 0):.3f}  "
                    f"acc {logs.get('accuracy', 0):.3f}")
            if live:
                print(f"\r{line}", end="\n" if epoch + 1 == epochs else "", file=out, flush=True)
            elif (epoch + 1) % every == 0 or epoch + 1 == epochs:
                print(line, file=out, flush=True)

    return Progress()


def check_epochs(epochs: int | None) -> int:
    """The number of training epochs: ``DEFAULT_EPOCHS`` for None; :class:`ConfigError` unless >= 1."""
    if epochs is None:
        return DEFAULT_EPOCHS
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"demo: --epochs must be a whole number >= 1, got {epochs!r}")
    return epochs


def check_output_folder(out_dir: str | os.PathLike) -> Path:
    """Refuse an output folder the demo could not write to, before it trains for a minute.

    ``out_dir`` may exist (then it must be a writable folder) or not (then its nearest existing
    ancestor must be a writable folder, where it will be created). Raises :class:`ConfigError`.
    """
    out = Path(out_dir)
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"demo: --out {str(out)!r} is a file, not a folder; name a folder")
        if not os.access(out, os.W_OK | os.X_OK):
            raise ConfigError(f"demo: --out folder {str(out)!r} is not writable; pick another folder")
        return out
    ancestor = out.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"demo: cannot create --out folder {str(out)!r}: {str(ancestor)!r} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"demo: cannot create --out folder {str(out)!r}: {str(ancestor)!r} is not writable; "
                          "pick another folder")
    return out


def run_demo(out_dir: str = "hgq-ir-demo", epochs: int | None = None, seed: int = 0) -> int:
    """Run the demo; returns the process exit code (0 when everything is bit-exact).

    ``epochs`` (default ``DEFAULT_EPOCHS``) must be >= 1 and ``out_dir`` writable: both are
    checked, with a :class:`ConfigError`, before Keras is imported.
    """
    epochs = check_epochs(epochs)
    out = check_output_folder(out_dir)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from hgq_ir.atomic import write_atomically
    from hgq_ir.backends.registry import TARGETS
    from hgq_ir.convert import convert
    from hgq_ir.reporting import report
    from hgq_ir.training.calibrate import trace_minmax
    from hgq_ir.verification import verify

    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    xtr, ytr, xte, yte = load_digits_split()
    model = build_model()
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    say(f"[1/5] training {model.name} on digits ({len(xtr)} train / {len(xte)} test rows, {epochs} epochs)")
    t0 = time.perf_counter()
    model.fit(xtr, ytr, epochs=epochs, batch_size=64, verbose=0, callbacks=[progress_callback(epochs)])
    say(f"      trained in {time.perf_counter() - t0:.1f} s")

    say("[2/5] calibrating (trace_minmax)")
    trace_minmax(model, xtr, verbose=False, progress=True)
    acc = float(np.mean(np.argmax(model.predict(xte, verbose=0), axis=1) == yte))
    write_atomically(out / "digits_mlp.keras", model.save)

    say(f"[3/5] converting to every target: {', '.join(TARGETS)}")
    written = []
    for name, target in TARGETS.items():
        path = out / f"digits_mlp_{name}{target.suffix}"
        convert(model, to=name, path=path)
        written.append(path)
        say(f"      {name:<7} {path}")

    gpp = shutil.which("g++") is not None
    say("[4/5] verifying every executor on the test set"
          + (" (hls4ml: compiling the C simulation with g++)" if gpp else ""))
    result = verify(model, xte, hls=True, qonnx_rows=len(xte), hls_dir=str(out / "hls4ml_prj"), source_x=xtr)

    say("[5/5] report (text, picture, JSON)\n")
    rep = report(model, target="proxy")
    pictures = rep.plot(out / "digits_mlp_report.png")
    rep.to_json(out / "digits_mlp_report.json")
    print(f"test accuracy: {acc:.4f}   total BOPs: {rep.total_bops:.0f}\n")
    print(rep.table)
    print()
    print(rep.passes.table())
    print()
    print(result.table())
    print(f"\nwrote {out / 'digits_mlp.keras'} and {', '.join(p.name for p in written)}")
    print(f"report: {', '.join(map(str, pictures))} (picture) and {out / 'digits_mlp_report.json'} (JSON)")
    not_run = [c.executor for c in result.checks if c.not_run]
    if not result.ok:
        print("bit-exact: NO", file=sys.stderr)
        for w in result.warnings:
            print(f"  - {w}", file=sys.stderr)
        return 1
    if not_run:
        print(f"bit-exact: every executor that ran; NOT checked: {', '.join(not_run)}"
              + ("; the firmware was NOT checked (install g++ to run hls4ml's C simulation)" if not gpp else ""))
        return 0
    print("bit-exact: yes (" + ", ".join(c.executor for c in result.checks if c.counts) + ")")
    return 0
