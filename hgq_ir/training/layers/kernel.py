"""The kernel-layer skeleton shared by HDense and HConv*: quantized kernel, bias and BOPs."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from hgq_ir.training.layers.base import HLayerBase, activation_name, scale_grad
from hgq_ir.training.quantizer import FLOOR, kif_of_values


class HKernelLayer(HLayerBase):
    """``activation(paq(op(x, kq(kernel)) + bias))`` with ``op`` a matmul or a convolution.

    Subclasses define ``kernel_shape(input_shape)``, ``linear_op(x, kernel)``,
    ``compute_output_shape`` and ``bops_op(input_bw, kernel_bw)``; the BatchNorm forms override
    ``train_kernel_bias`` and ``fused_kernel`` / ``fused_bias``.
    """

    has_kernel = True

    def __init__(self, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 parallel_factor: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation_name = activation_name(activation, self.name)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.parallel_factor = parallel_factor

    # ---- to implement -----------------------------------------------------------------------
    def kernel_shape(self, input_shape: tuple) -> tuple[int, ...]:
        """Shape of the kernel for inputs of ``input_shape``."""
        raise NotImplementedError

    def linear_op(self, x: Any, kernel: Any) -> Any:
        """The matmul / convolution of ``x`` with ``kernel`` (no bias)."""
        raise NotImplementedError

    def bops_op(self, input_bw: Any, kernel_bw: Any) -> Any:
        """BOPs from the input width map and the per-weight kernel widths (ops or numpy in)."""
        raise NotImplementedError

    def exact_bops(self, input_bw: np.ndarray, kernel_bw: np.ndarray) -> float:
        """``bops_op`` on integer widths, as a Python float (float64, like upstream HGQ and the IR)."""
        return float(ops.convert_to_numpy(self.bops_op(ops.convert_to_tensor(input_bw),
                                                       ops.convert_to_tensor(kernel_bw))))

    # ---- building ---------------------------------------------------------------------------
    @property
    def n_channels(self) -> int:
        """Number of output channels (the last kernel axis)."""
        return int(self.kernel_shape_[-1])

    def build(self, input_shape: tuple) -> None:
        """Create the kernel, the bias, then the quantizers; adapt the kernel bits to the kernel."""
        self.kernel_shape_ = self.kernel_shape(input_shape)
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_shape_,
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.n_channels,),
                                        initializer=self.bias_initializer, regularizer=self.bias_regularizer)
        self.build_extra(input_shape)
        self.build_quantizers(input_shape, self.kernel_shape_)
        self.paq.bias_folds_rounding = self.can_bias_cover_rnd and self.paq.rnd_strategy != FLOOR
        self.adapt_kernel_bits()

    def build_extra(self, input_shape: tuple) -> None:
        """Hook for weights that must exist before the quantizers (BatchNorm statistics)."""

    def adapt_kernel_bits(self) -> None:
        """Make ``kq.init_bw`` count significant bits of each initial weight (upstream's adapt)."""
        self.kq.adapt_bw_bits(self.fused_kernel_tensor())

    @property
    def can_bias_cover_rnd(self) -> bool:
        """A 1-D bias and a paq grid that is uniform per output channel (or fully shared)."""
        if not self.use_bias:
            return False
        shape = tuple(self.paq.fbw.shape)
        return int(np.prod(shape[:-1])) == 1 and shape[-1] in (1, self.n_channels)

    # ---- forward ----------------------------------------------------------------------------
    def fused_kernel_tensor(self) -> Any:
        """Float kernel the kq quantizes at inference (BatchNorm forms fuse their scale)."""
        return self.kernel

    def fused_bias_tensor(self) -> Any:
        """Float bias at inference (BatchNorm forms fuse their shift); None without bias."""
        return self.bias

    def train_kernel_bias(self, x: Any) -> tuple[Any, Any]:
        """Float kernel and bias used in a training step (BatchNorm forms use batch statistics)."""
        return self.kernel, self.bias

    def inference_qbias(self) -> Any:
        """Quantized bias at inference, plus half an LSB when the bias folds the rounding."""
        qb = self.paq.bias_forward(self.fused_bias_tensor(), False)
        if self.paq.bias_folds_rounding:
            qb = qb + ops.power(2.0, -ops.round(self.paq.channel_fbw()) - 1.0)
        return qb

    def call(self, x: Any, training: bool | None = None) -> Any:
        """Training: STE/surrogate quantization and BOPs loss. Inference: the exact fixed-point path."""
        training = bool(training)
        if training:
            kernel, bias = self.train_kernel_bias(x)
            qk = self.kq(kernel, True)
            z = self.linear_op(x, qk)
            if bias is not None:
                z = z + self.paq.bias_forward(bias, True)
            out = self.quantize_output(z, True)
            self._bops_from_training(qk)
            return out
        z = self.linear_op(x, self.kq(self.fused_kernel_tensor(), False))
        if self.use_bias:
            z = z + self.inference_qbias()
        return self.quantize_output(z, False)

    def _bops_from_training(self, qk: Any) -> None:
        input_bw = self.input_bw()
        if input_bw is None:
            return
        kernel_bw = scale_grad(self.kq.kernel_bits(qk), 1.0 / np.sqrt(self.kq.degeneracy))
        self.add_bops_loss(self.bops_op(input_bw[0], kernel_bw))

    # ---- the converter's view ---------------------------------------------------------------
    @property
    def fused_qkernel(self) -> np.ndarray:
        """Quantized (BatchNorm-fused) kernel the layer multiplies by at inference (numpy)."""
        return self.kq.quantize_inference_numpy(ops.convert_to_numpy(self.fused_kernel_tensor()))

    @property
    def fused_qbias(self) -> np.ndarray | None:
        """Quantized (fused) bias added at inference, half-LSB included when folded (numpy)."""
        if not self.use_bias:
            return None
        channel = self.paq.channel_fbw_numpy()
        qb = self.paq.bias_numpy(ops.convert_to_numpy(self.fused_bias_tensor()), channel)
        if self.paq.bias_folds_rounding:
            qb = qb + np.power(2.0, -np.round(channel) - 1.0).astype(qb.dtype)
        return qb

    def kernel_kif(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact per-weight (k, i, f) of ``fused_qkernel`` (kernel shape)."""
        return kif_of_values(self.fused_qkernel)

    def compute_exact_bops(self) -> float:
        """``bops_op`` on the predecessors' exact widths and the weights' ``i + f``."""
        input_bw = self.input_bw(exact=True)
        if input_bw is None:
            self.bops.assign(0.0)
            return 0.0
        _, i, f = self.kernel_kif()
        kernel_bw = (i + f).astype(np.float32)
        bops = self.exact_bops(np.asarray(input_bw[0], np.float32), kernel_bw)
        self.bops.assign(bops)
        return bops

    def get_config(self) -> dict[str, Any]:
        """Keras config (activation, bias, initializers, regularizers, parallel_factor, HGQ confs)."""
        config = super().get_config()
        config.update(
            activation=self.activation_name,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=keras.regularizers.serialize(self.bias_regularizer),
            parallel_factor=self.parallel_factor,
        )
        return config
