"""The ``hgq-ir`` command: demo, convert, inspect, verify, report."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from hgq_ir.errors import HgqIrError

NOT_YET = 3


def _not_yet(what: str) -> int:
    print(f"hgq-ir {what}: not yet available in this version (needs the HGQ frontend and the proxy "
          "backend; see the open issues).", file=sys.stderr)
    return NOT_YET


def cmd_demo(args: argparse.Namespace) -> int:
    """Train the digits MLP, convert it to every target, verify bit-exactness, print a report."""
    try:
        from hgq_ir.demo import run_demo  # noqa: PLC0415
    except ImportError:
        return _not_yet("demo")
    return run_demo(out_dir=args.out, epochs=args.epochs)


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert a saved model to a target."""
    return _not_yet("convert")


def cmd_inspect(args: argparse.Namespace) -> int:
    """Print the IR of a saved model, after any pass."""
    return _not_yet("inspect")


def cmd_verify(args: argparse.Namespace) -> int:
    """Check that every backend agrees bit for bit with the reference interpreter."""
    return _not_yet("verify")


def cmd_report(args: argparse.Namespace) -> int:
    """Print the per-layer report (formats, BOPs, overflow modes, LUTs)."""
    return _not_yet("report")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hgq-ir``."""
    p = argparse.ArgumentParser(prog="hgq-ir", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="train a small HGQ model on digits, convert, verify, report")
    d.add_argument("--out", default="hgq-ir-demo", help="output folder (default ./hgq-ir-demo)")
    d.add_argument("--epochs", type=int, default=None, help="training epochs (default: the demo's own)")
    d.set_defaults(func=cmd_demo)
    c = sub.add_parser("convert", help="convert a .keras/.h5 model")
    c.add_argument("model")
    c.add_argument("--to", default="proxy", choices=["proxy", "ir", "qonnx", "onnx", "hls4ml"])
    c.add_argument("--out", required=False)
    c.set_defaults(func=cmd_convert)
    i = sub.add_parser("inspect", help="print the IR, after any pass")
    i.add_argument("model")
    i.add_argument("--after", default=None, help="pass name to dump after")
    i.add_argument("--diff", action="store_true", help="show the diff a pass made")
    i.set_defaults(func=cmd_inspect)
    v = sub.add_parser("verify", help="check backends against the reference interpreter")
    v.add_argument("model")
    v.set_defaults(func=cmd_verify)
    r = sub.add_parser("report", help="per-layer report")
    r.add_argument("model")
    r.set_defaults(func=cmd_report)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hgq-ir`` console script."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HgqIrError as e:
        print(f"hgq-ir: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
