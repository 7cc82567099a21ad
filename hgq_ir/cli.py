"""The ``hgq-ir`` command: demo, convert, inspect, verify, report.

Exit codes: 0 success, 1 a verification found a mismatch, 2 an error the user can fix (one line
on stderr), 3 an internal error of hgq-ir (one line naming the step and node, and a request to
report it; ``--debug`` prints the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from hgq_ir import __version__
from hgq_ir.backends.registry import TARGETS, get_target
from hgq_ir.ir.errors import ConfigError, HgqIrError, InternalError
from hgq_ir.progress import quiet

if TYPE_CHECKING:
    import numpy as np

REPORT_HINT = "this is a bug in hgq-ir: please report it with the command and model (--debug shows the traceback)"
MODEL_COMMANDS = ("convert", "inspect", "verify", "report")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit code 2.

    argparse prints the usage and then the error (two lines or more); hgq-ir's errors are one
    line each, with a pointer to ``--help``. Sub-command parsers inherit the class.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``hgq-ir: error: MESSAGE (see 'PROG --help')`` and exit 2."""
        self.exit(2, f"hgq-ir: error: {_one_line(message)} (see '{self.prog} --help')\n")


def _convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--conservative", action="store_true",
                   help="saturate where overflow is possible (aggressive=False); default wraps everywhere")
    p.add_argument("--lut-size", type=int, default=1024, help="unary_lut_max_table_size (default 1024; <= 0: off)")
    p.add_argument("--calib", default=None, metavar="X.npy",
                   help="QKeras models: .npy inputs (N, *input_shape) giving float values read by a quantized layer "
                        "the smallest format holding them exactly (hgq_ir.convert(model, calibration=X))")


def _pipeline(args: argparse.Namespace, target: str | None = None, dump=None, diff: bool = False):
    """Lift ``args.model`` and run the core pipeline plus ``target``'s legalization."""
    from hgq_ir.convert import lift, run_passes

    graph = lift(args.model, calibration=getattr(args, "calib_array", None))
    result = run_passes(graph, aggressive=not args.conservative, unary_lut_max_table_size=args.lut_size,
                        dump=dump, diff=diff, target=target)
    return graph, result


def cmd_demo(args: argparse.Namespace) -> int:
    """Train the digits MLP, convert it, verify bit-exactness, print a report."""
    from hgq_ir.demo import run_demo

    return run_demo(out_dir=args.out, epochs=args.epochs)


def default_output(model: str, to: str) -> str | None:
    """Where ``hgq-ir convert MODEL --to TO`` writes without ``--out``: None (stdout) for the IR."""
    if to == "ir":
        return None
    return os.path.splitext(os.path.basename(model))[0] + f"_{to}{get_target(to).suffix}"


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert a saved model to a target and write it (atomically)."""
    target = get_target(args.to)
    out = args.out or default_output(args.model, args.to)
    if out is None:
        graph, _ = _pipeline(args, target=None)
        print(graph)
        return 0
    graph, _ = _pipeline(args, target=None if args.to == "ir" else args.to)
    artefact = target.emit(graph, f"{graph.name}_{args.to}")
    print(f"wrote {target.write(artefact, out)}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """Print the IR as lifted, or after a pass run (with --diff, what that run changed)."""
    if args.after is None and args.target is None:
        from hgq_ir.convert import lift

        print(lift(args.model, calibration=getattr(args, "calib_array", None)))
        return 0
    if args.after is None:
        graph, _ = _pipeline(args, target=args.target)
        print(f"# after the core pipeline and {args.target!r}'s legalization")
        print(graph)
        return 0
    _, result = _pipeline(args, target=args.target, dump=[args.after], diff=args.diff)
    r = result.record(args.after)
    print(f"# after {r.name} ({'changed' if r.changed else 'unchanged'}, {r.seconds * 1e3:.2f} ms)")
    print(r.diff if args.diff else r.ir_after)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Run every executor (source model, proxy, onnxruntime, qonnx, hls4ml with --hls) against the interpreter.

    Prints one table: per executor, the exact-match rate and, for a mismatch, the first IR value
    where its values leave the interpreter's. A mismatch is explained by the conversion's
    NotBitExactWarnings (float values, approximated activations, hls4ml quirks).
    """
    from hgq_ir.verification import verify

    x = None
    if args.data:
        x = args.data_array if getattr(args, "data_array", None) is not None else load_data(args.data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = verify(args.model, x, samples=args.samples, hls=args.hls, qonnx_rows=args.qonnx_rows,
                        aggressive=not args.conservative, unary_lut_max_table_size=args.lut_size,
                        calibration=getattr(args, "calib_array", None))
    print(result.table())
    if result.ok:
        return 0
    if result.warnings:
        print("not bit-exact, as the conversion warned:")
        for r in result.warnings:
            print(f"  - {r}")
    else:
        print("not bit-exact, and the conversion gave no warning: this is a bug in hgq-ir, please report it "
              "with the model and the data")
    return 1


def cmd_report(args: argparse.Namespace) -> int:
    """Print the per-layer report (formats, BOPs, overflow modes, LUTs) and the pass timings.

    ``--json`` alone prints the report as JSON only (schema: ``hgq_ir.reporting``); ``--json
    OUT.json`` and ``--plot OUT.png`` also write those files (atomically) and say where.
    """
    from hgq_ir.reporting import report

    rep = report(args.model, target=args.target, aggressive=not args.conservative,
                 unary_lut_max_table_size=args.lut_size, calibration=getattr(args, "calib_array", None))
    to_stdout = args.json == "-"
    said = sys.stderr if to_stdout else sys.stdout  # stdout holds only the JSON then
    if to_stdout:
        print(rep.to_json(), end="")
    else:
        print(rep.table)
        print()
        print(rep.passes.table())
        if args.json:
            rep.to_json(args.json)
            print(f"wrote {args.json}")
    if args.plot:
        print(f"wrote {', '.join(map(str, rep.plot(args.plot)))}", file=said)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hgq-ir``."""
    p = OneLineParser(prog="hgq-ir", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"hgq-ir {__version__}")
    p.add_argument("--debug", action="store_true", help="print the traceback of an internal error")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress lines (training epochs, trace_minmax, verify --hls, the demo's steps)")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="train a small HGQ model on digits, convert, verify, report")
    d.add_argument("--out", default="hgq-ir-demo", help="output folder (default ./hgq-ir-demo)")
    d.add_argument("--epochs", type=int, default=None, help="training epochs, >= 1 (default: the demo's own)")
    d.set_defaults(func=cmd_demo)
    c = sub.add_parser("convert", help="convert a .keras/.h5 model")
    c.add_argument("model")
    c.add_argument("--to", default="proxy", choices=list(TARGETS),
                   help="; ".join(f"{t.name}: {t.description}" for t in TARGETS.values()))
    c.add_argument("--out", required=False, help="output file (default: <model>_<to><suffix>; IR: stdout)")
    _convert_args(c)
    c.set_defaults(func=cmd_convert)
    i = sub.add_parser("inspect", help="print the IR, after any pass")
    i.add_argument("model")
    i.add_argument("--after", default=None,
                   help="pass run to dump after (infer_formats#2 for a pass that runs more than once)")
    i.add_argument("--diff", action="store_true", help="show the diff a pass made")
    i.add_argument("--target", default=None, choices=list(TARGETS),
                   help="also run this target's legalization passes (e.g. proxy: what hls4ml computes)")
    _convert_args(i)
    i.set_defaults(func=cmd_inspect)
    v = sub.add_parser("verify", help="check backends against the reference interpreter")
    v.add_argument("model")
    v.add_argument("--data", help=".npy file of inputs (default: standard normal samples)")
    v.add_argument("--samples", type=int, default=1000, help="random rows without --data (>= 1; default 1000)")
    v.add_argument("--hls", action="store_true", help="also compile with hls4ml and run its C simulation")
    v.add_argument("--qonnx-rows", type=int, default=256,
                   help="rows given to qonnx's executor, which is slow (default 256; 0: skip it)")
    _convert_args(v)
    v.set_defaults(func=cmd_verify)
    r = sub.add_parser("report", help="per-layer report")
    r.add_argument("model")
    r.add_argument("--target", default=None, choices=list(TARGETS),
                   help="report the IR legalized for this target (default: the model's own IR)")
    r.add_argument("--plot", default=None, metavar="OUT.png",
                   help="also draw the bitwidths (weights, outputs, 0-bit shares), BOPs and kernel heatmaps "
                        "(more pages: OUT_p2.png...)")
    r.add_argument("--json", nargs="?", const="-", default=None, metavar="OUT.json",
                   help="the report as JSON: to OUT.json, or alone to stdout (then stdout holds only the JSON)")
    _convert_args(r)
    r.set_defaults(func=cmd_report)
    for command in sub.choices.values():  # also after the command: hgq-ir demo --quiet
        command.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
                             help="no progress lines")
    return p


def load_data(path: str, option: str = "--data") -> np.ndarray:
    """The ``--data`` (or ``--calib``) array: a readable ``.npy`` file of finite numbers, one row per sample.

    Returns float64. Raises :class:`ConfigError` naming ``option``, the file and what is wrong;
    imports no TensorFlow.
    """
    import numpy as np

    if not os.path.isfile(path):
        raise ConfigError(f"{option} {path!r} does not exist" if not os.path.exists(path)
                          else f"{option} {path!r} is not a file")
    if not path.endswith(".npy"):
        raise ConfigError(f"{option} {path!r}: expected a .npy file (numpy.save) holding one array of inputs")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises ValueError, OSError, EOFError... on a bad file
        raise ConfigError(f"{option} {path!r} is not a readable .npy array ({type(e).__name__}: {e}); save it "
                          "with numpy.save") from e
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu":
        raise ConfigError(f"{option} {path!r} holds {getattr(x, 'dtype', type(x).__name__)} values, not numbers; "
                          "save an array of floats")
    if x.ndim < 2 or x.size == 0:
        raise ConfigError(f"{option} {path!r} holds an array of shape {x.shape}; expected one row per sample, "
                          "shape (N, *input_shape) with N >= 1")
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        raise ConfigError(f"{option} {path!r}: {int(bad.sum())} of {len(x)} rows hold NaN or Inf (first: row "
                          f"{int(np.argmax(bad))}); remove or replace them")
    return x.astype(np.float64)


def check_output_file(path: str, to: str) -> None:
    """Refuse an output file that target ``to`` cannot write: wrong suffix, missing or unwritable folder."""
    target = get_target(to)
    out = Path(path)
    if out.suffix != target.suffix:
        raise ConfigError(f"--out {path!r}: target {to!r} writes {target.suffix} files; name the output "
                          f"<something>{target.suffix}")
    if out.is_dir():
        raise ConfigError(f"--out {path!r} is a folder; name a {target.suffix} file in it")
    folder = out.parent
    if not folder.exists():
        raise ConfigError(f"cannot write {path!r}: folder {str(folder)!r} does not exist; create it first")
    if not folder.is_dir():
        raise ConfigError(f"cannot write {path!r}: {str(folder)!r} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {path!r}: folder {str(folder)!r} is not writable")


def check_writable_file(path: str, suffix: str, option: str) -> None:
    """Refuse an output file ``option PATH`` that is not ``*suffix`` in an existing, writable folder."""
    out = Path(path)
    if out.suffix != suffix:
        raise ConfigError(f"{option} {path!r}: name a {suffix} file (<something>{suffix})")
    if out.is_dir():
        raise ConfigError(f"{option} {path!r} is a folder; name a {suffix} file in it")
    folder = out.parent
    if not folder.is_dir():
        raise ConfigError(f"cannot write {path!r}: folder {str(folder)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {path!r}: folder {str(folder)!r} is not writable")


def check_args(args: argparse.Namespace) -> None:
    """Check the command's files and numbers before TensorFlow is imported (a typed error in a blink).

    Model files must exist and look like models; ``--out`` must be writable with the target's
    suffix; ``--data`` and ``--calib`` must be numeric ``.npy`` arrays (loaded here, into
    ``args.data_array`` and ``args.calib_array``);
    ``--samples`` and ``--epochs`` must be >= 1; the demo's folder must be writable; the report's
    ``--plot`` and ``--json`` files must be .png and .json files in writable folders.
    """
    if args.command in MODEL_COMMANDS:
        from hgq_ir.convert import check_model_file

        check_model_file(args.model)
        args.calib_array = load_data(args.calib, option="--calib") if args.calib else None
    if args.command == "convert":
        out = args.out or default_output(args.model, args.to)
        if out is not None:
            check_output_file(out, args.to)
    if args.command == "report":
        if args.plot:
            check_writable_file(args.plot, ".png", "--plot")
        if args.json not in (None, "-"):
            check_writable_file(args.json, ".json", "--json")
    if args.command == "verify":
        if args.samples < 1:
            raise ConfigError(f"--samples must be >= 1, got {args.samples}")
        if args.qonnx_rows < 0:
            raise ConfigError(f"--qonnx-rows must be >= 0, got {args.qonnx_rows}")
        args.data_array = load_data(args.data) if args.data else None
    if args.command == "demo":
        from hgq_ir.demo import check_epochs, check_output_folder

        check_epochs(args.epochs)
        check_output_folder(args.out)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow without its native start-up lines, unless ``TF_CPP_MIN_LOG_LEVEL`` is 0.

    TensorFlow 2.21 prints lines from C++ while it loads (oneDNN, CUDA drivers), before its log
    level applies, so the process's stderr (file descriptor 2) is pointed at /dev/null for the
    import. A Python error in the import still surfaces: it is raised after stderr is back.
    """
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hgq-ir`` console script."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    with quiet(args.quiet):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Check the arguments, then run the command; errors become exit codes 2 and 3."""
    try:
        check_args(args)  # before TensorFlow (seconds to import): a bad argument fails at once
        import_tensorflow_quietly()
        with warnings.catch_warnings():
            if not args.debug:  # numpy's overflow/invalid-value notes on a broken model: the typed error says it
                warnings.simplefilter("ignore", RuntimeWarning)
            return int(args.func(args) or 0)
    except InternalError as e:
        return _internal(e, str(e), args.debug)
    except HgqIrError as e:
        print(f"hgq-ir: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug outside any pass or emitter
        return _internal(e, f"internal error in 'hgq-ir {args.command}': {type(e).__name__}: {e}", args.debug)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _internal(e: BaseException, message: str, debug: bool) -> int:
    """Report an internal error: one line and a hint, or the whole traceback with ``--debug``; exit code 3."""
    if debug:
        traceback.print_exception(e, file=sys.stderr)
    print(f"hgq-ir: {_one_line(message)}; {REPORT_HINT}", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
