"""Shared machinery of the HGQ layers: bitwidth propagation, quantizers, BOPs loss, single use."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from hgq_ir.ir.errors import ConfigError
from hgq_ir.training.layers.graph import check_single_use, predecessors
from hgq_ir.training.quantizer import HGQuantizer, resolve_conf, serialize_conf


def scale_grad(x: Any, scale: float) -> Any:
    """``x`` in value, ``scale * dx`` in gradient (upstream divides by sqrt(degeneracy))."""
    sx = x * scale
    return sx + ops.stop_gradient(x - sx)


def activation_name(activation: Any, layer: str) -> str:
    """'linear' or 'relu' for the ``activation`` argument of HDense/HConv*; anything else raises."""
    if activation is None:
        return "linear"
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", repr(activation))
    name = name.lower()
    if name not in ("linear", "relu"):
        raise ConfigError(
            f"{layer}: activation {name!r} is not allowed here; only 'linear' (None) and 'relu' are. "
            "Put other activations in a separate HActivation layer."
        )
    return name


class BitwidthMixin:
    """Layers that know the bitwidth of every element they output (``act_bw``).

    ``act_bw(exact=False)`` is differentiable (used for the BOPs loss while training);
    ``act_bw(exact=True)`` is the integer width ``k + i + f`` from the traced formats. Both have
    shape ``(1,) + output_shape[1:]``. ``input_bw`` collects the predecessors' widths; it is None
    when some predecessor (e.g. a plain ``Input``) carries no width.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = super().__call__(*args, **kwargs)
        check_single_use(self)
        return out

    def act_bw(self, exact: bool = False) -> Any:
        """Per-element output bitwidth, broadcast to ``(1,) + output_shape[1:]``."""
        raise NotImplementedError

    def input_bw(self, exact: bool = False) -> list[Any] | None:
        """The predecessors' ``act_bw`` (one per input), or None when one of them has none."""
        preds = predecessors(self)
        if not preds or not all(isinstance(p, BitwidthMixin) for p in preds):
            return None
        bws = [p.act_bw(exact) for p in preds]
        return None if any(b is None for b in bws) else bws

    def _full_bw_shape(self) -> tuple[int, ...]:
        return (1, *self._hgq_out_shape[1:])


class HLayerBase(BitwidthMixin, keras.layers.Layer):
    """Base of the H-layers: a pre-activation quantizer ``paq`` (and a kernel quantizer ``kq``).

    Subclasses call :meth:`build_quantizers` from ``build`` and route their output through
    :meth:`quantize_output`. ``beta`` (a non-trainable variable) weighs ``bops`` in the loss.
    """

    has_kernel = False

    def __init__(self, beta: float = 0.0, kq_conf: dict | None = None, paq_conf: dict | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._beta_init = float(beta)
        self.kq_conf = resolve_conf(kq_conf, "kq", self.name)
        self.paq_conf = resolve_conf(paq_conf, "paq", self.name)
        self.kq = HGQuantizer(self.kq_conf, f"{self.name}/kq") if self.has_kernel else None
        self.paq = HGQuantizer(self.paq_conf, f"{self.name}/paq")
        self.record_minmax = False
        """Record output ranges in inference calls too (``trace_minmax`` sets it)."""
        self.activation_name = "linear"

    # ---- building ---------------------------------------------------------------------------
    def build_quantizers(self, input_shape: Any, kernel_shape: tuple[int, ...] | None = None) -> None:
        """Create ``beta``, ``bops`` and the quantizer variables; call once from ``build``."""
        self._hgq_out_shape = tuple(self.compute_output_shape(input_shape))
        self.beta = self.add_weight(name="beta", shape=(), trainable=False, dtype="float32",
                                    initializer=keras.initializers.Constant(self._beta_init))
        self.bops = self.add_weight(name="bops", shape=(), trainable=False, dtype="float32",
                                    initializer="zeros")
        if self.kq is not None:
            self.kq.build(self, kernel_shape, "kernel_bw")
        self.paq.build(self, self._hgq_out_shape, "activation_bw")
        self.paq.pos_only = self.activation_name == "relu"
        if self.paq.rnd_strategy is None:
            self.paq.rnd_strategy = 0 if self.can_bias_cover_rnd else 3
        if self.kq is not None and self.kq.rnd_strategy is None:
            self.kq.rnd_strategy = 0

    @property
    def can_bias_cover_rnd(self) -> bool:
        """True when the bias can absorb the half-LSB of round-to-nearest (per-channel paq grid)."""
        return False

    # ---- forward helpers --------------------------------------------------------------------
    def quantize_output(self, z: Any, training: bool) -> Any:
        """paq (recording the range when training or tracing), then the activation."""
        z = self.paq(z, training, record=training or self.record_minmax)
        return ops.relu(z) if self.activation_name == "relu" else z

    def add_bops_loss(self, bops: Any) -> None:
        """Store the differentiable BOPs and add ``beta * bops`` to the loss."""
        self.bops.assign(ops.cast(bops, "float32"))
        self.add_loss(self.beta * bops)

    # ---- bitwidths and BOPs -----------------------------------------------------------------
    def act_bw(self, exact: bool = False) -> Any:
        """Width of each output element (k dropped after relu), shape ``(1,) + output_shape[1:]``."""
        if exact:
            k, i, f = self.paq.get_bits_exact()
            return np.broadcast_to((k + i + f).astype(np.float32), self._full_bw_shape())
        bw = scale_grad(self.paq.act_bits(self.paq.pos_only), 1.0 / np.sqrt(self.paq.degeneracy))
        return ops.broadcast_to(bw, self._full_bw_shape())

    def compute_exact_bops(self) -> float:
        """Exact BOPs from the traced formats (0 for layers without a kernel); also stored in ``bops``."""
        self.bops.assign(0.0)
        return 0.0

    def reset_minmax(self) -> None:
        """Forget the recorded output range."""
        self.paq.reset_minmax()

    def output_kif(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact (k, i, f) of the layer's output (after relu when there is one); see the package doc."""
        return self.paq.get_bits_exact()

    # ---- serialization ----------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Keras config with ``beta``, ``kq_conf`` and ``paq_conf``."""
        config = super().get_config()
        beta = float(self.beta.numpy()) if self.built else self._beta_init
        config.update(beta=beta, paq_conf=serialize_conf(self.paq_conf))
        if self.has_kernel:
            config["kq_conf"] = serialize_conf(self.kq_conf)
        return config
