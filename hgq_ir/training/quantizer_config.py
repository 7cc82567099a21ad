"""Quantizer configs: the upstream default dicts, their getters/setters, and the bitwidth regularizer.

``get_default_*_conf`` return copies; ``set_default_*_conf`` require exactly the default key set
(missing or unknown keys raise :class:`hgq_ir.ir.errors.ConfigError` naming them); layers merge
their ``kq_conf`` / ``paq_conf`` over the defaults with :func:`resolve_conf`.
"""

from __future__ import annotations

import copy
from typing import Any

import keras
from keras import ops

from hgq_ir.ir.errors import ConfigError


@keras.saving.register_keras_serializable(package="hgq_ir")
class MonoL1(keras.regularizers.Regularizer):
    """Monotone L1 push toward fewer bits: ``l1 * sum(fbw)`` (a plain sum, not ``|fbw|``).

    Bitwidths may go negative (a coarse grid), so an absolute value would wrongly pull them back
    up toward zero; the plain sum keeps a constant downward pressure, as upstream HGQ does.
    """

    def __init__(self, l1: float = 0.0) -> None:
        if l1 < 0:
            raise ConfigError(f"MonoL1: l1 must be >= 0, got {l1}")
        self.l1 = float(l1)

    def __call__(self, x: Any) -> Any:
        return self.l1 * ops.sum(x)

    def get_config(self) -> dict[str, Any]:
        """Keras config: ``{'l1': ...}``."""
        return {"l1": self.l1}


@keras.saving.register_keras_serializable(package="hgq_ir")
class BitwidthClip(keras.constraints.Constraint):
    """Clamp ``fbw`` into ``[lo, hi]`` after every optimizer update (upstream clamps on every call)."""

    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = float(lo), float(hi)

    def __call__(self, w: Any) -> Any:
        return ops.clip(w, self.lo, self.hi)

    def get_config(self) -> dict[str, Any]:
        """Keras config: ``{'lo': ..., 'hi': ...}``."""
        return {"lo": self.lo, "hi": self.hi}


_DEFAULT_KQ_CONF: dict[str, Any] = {
    "init_bw": 2,
    "skip_dims": None,
    "rnd_strategy": "standard_round",
    "exact_q_value": True,
    "dtype": None,
    "bw_clip": (-23, 23),
    "trainable": True,
    "regularizer": MonoL1(1e-6),
}
_DEFAULT_PAQ_CONF: dict[str, Any] = {
    "init_bw": 2,
    "skip_dims": (0,),
    "rnd_strategy": "standard_round",
    "exact_q_value": True,
    "dtype": None,
    "bw_clip": (-23, 23),
    "trainable": True,
    "regularizer": MonoL1(1e-6),
    "minmax_record": True,
}


def get_default_kq_conf() -> dict[str, Any]:
    """A copy of the default kernel-quantizer config (8 keys, as upstream)."""
    return copy.deepcopy(_DEFAULT_KQ_CONF)


def get_default_paq_conf() -> dict[str, Any]:
    """A copy of the default pre-activation-quantizer config (9 keys, as upstream)."""
    return copy.deepcopy(_DEFAULT_PAQ_CONF)


def _check_exact_keys(conf: dict[str, Any], ref: dict[str, Any], what: str) -> None:
    missing = sorted(set(ref) - set(conf))
    unknown = sorted(set(conf) - set(ref))
    if missing or unknown:
        raise ConfigError(
            f"{what}: the config must have exactly the keys {sorted(ref)}; "
            f"missing keys: {missing}, unknown keys: {unknown}"
        )


def set_default_kq_conf(conf: dict[str, Any]) -> None:
    """Replace the default kernel-quantizer config; ``conf`` must have exactly the default keys."""
    _check_exact_keys(conf, _DEFAULT_KQ_CONF, "set_default_kq_conf")
    _DEFAULT_KQ_CONF.clear()
    _DEFAULT_KQ_CONF.update(copy.deepcopy(conf))


def set_default_paq_conf(conf: dict[str, Any]) -> None:
    """Replace the default pre-activation config; ``conf`` must have exactly the default keys."""
    _check_exact_keys(conf, _DEFAULT_PAQ_CONF, "set_default_paq_conf")
    _DEFAULT_PAQ_CONF.clear()
    _DEFAULT_PAQ_CONF.update(copy.deepcopy(conf))


def resolve_conf(conf: dict[str, Any] | None, kind: str, layer: str) -> dict[str, Any]:
    """Defaults of ``kind`` ('kq' or 'paq') overlaid with ``conf``; unknown keys raise ConfigError.

    Missing keys are filled from the current defaults (upstream replaced the whole dict; a
    partial override is friendlier and means the same when every key is given).
    """
    base = get_default_kq_conf() if kind == "kq" else get_default_paq_conf()
    conf = dict(conf or {})
    unknown = sorted(set(conf) - set(base))
    if unknown:
        raise ConfigError(f"{layer}: unknown {kind}_conf keys {unknown}; allowed keys: {sorted(base)}")
    reg = conf.get("regularizer")
    if isinstance(reg, dict):
        conf["regularizer"] = keras.saving.deserialize_keras_object(reg)
    if isinstance(conf.get("bw_clip"), list):
        conf["bw_clip"] = tuple(conf["bw_clip"])
    if isinstance(conf.get("skip_dims"), list):
        conf["skip_dims"] = tuple(conf["skip_dims"])
    base.update(conf)
    return base


def serialize_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """JSON-friendly copy of a quantizer config (the regularizer becomes a Keras config dict)."""
    out = dict(conf)
    if out.get("regularizer") is not None:
        out["regularizer"] = keras.saving.serialize_keras_object(out["regularizer"])
    return out
