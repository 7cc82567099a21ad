"""HDenseBatchNorm / HConv*DBatchNorm: kernel layers with a BatchNormalization fused in.

With ``z0 = op(x, kernel)`` (the unquantized linear op), ``s = gamma / sqrt(var + eps)``:

* training: mean/var are the batch statistics of ``z0`` (moving averages updated with
  ``momentum``); the layer computes ``paq(op(x, kq(kernel * s)) + bq(bias - mean * s + bn_beta))``;
* inference: the same with the moving statistics; ``fused_qkernel`` / ``fused_qbias`` are these
  fused, quantized weights, so the converter sees a plain Dense/Conv.

Differences from upstream HGQ: ``bn_beta`` is used in training too (upstream left it at 0 with no
gradient), ``bias`` is not part of the normalised value (it and ``bn_beta`` are both plain
shifts), and kernel bits are adapted to the unfused kernel at build (upstream waited for the
first training step, which a traced Keras 3 train function cannot do once).
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
from keras import ops

from hgq_ir.training.layers.conv import HConvBase
from hgq_ir.training.layers.dense import HDense


class FusedBatchNormMixin:
    """BatchNorm parameters and statistics fused into a kernel layer's kernel and bias."""

    def __init__(self, *args: Any, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        if self.center and not self.use_bias:
            warnings.warn(f"{self.name}: center=True needs use_bias=True (the shift lives in the bias); "
                          "setting center=False", stacklevel=2)
            self.center = False

    def build_extra(self, input_shape: tuple) -> None:
        """The BatchNorm weights, created before the quantizers."""
        c = (self.n_channels,)
        if self.center:
            self.bn_beta = self.add_weight(name="bn_beta", shape=c, initializer="zeros")
            self.moving_mean = self.add_weight(name="moving_mean", shape=c, initializer="zeros", trainable=False)
        if self.scale:
            self.bn_gamma = self.add_weight(name="bn_gamma", shape=c, initializer="ones")
            self.moving_variance = self.add_weight(name="moving_variance", shape=c, initializer="ones",
                                                   trainable=False)

    def _scale(self, var: Any) -> Any:
        return self.bn_gamma * ops.rsqrt(var + self.epsilon)

    def fused_kernel_tensor(self) -> Any:
        """``kernel * gamma / sqrt(moving_variance + eps)``."""
        return self.kernel * self._scale(self.moving_variance) if self.scale else self.kernel

    def fused_bias_tensor(self) -> Any:
        """``bias - moving_mean * s + bn_beta``."""
        if not self.use_bias:
            return None
        if not self.center:
            return self.bias
        s = self._scale(self.moving_variance) if self.scale else 1.0
        return self.bias - self.moving_mean * s + self.bn_beta

    def train_kernel_bias(self, x: Any) -> tuple[Any, Any]:
        """Batch statistics of ``op(x, kernel)``; update the moving averages; fuse."""
        if not (self.center or self.scale):
            return self.kernel, self.bias
        z0 = self.linear_op(x, self.kernel)
        axes = tuple(range(len(z0.shape) - 1))
        mean, var = ops.moments(z0, axes=axes)
        m = self.momentum
        kernel, bias = self.kernel, self.bias
        s = 1.0
        if self.scale:
            self.moving_variance.assign(m * self.moving_variance + (1 - m) * ops.stop_gradient(var))
            s = self._scale(var)
            kernel = self.kernel * s
        if self.center:
            self.moving_mean.assign(m * self.moving_mean + (1 - m) * ops.stop_gradient(mean))
            bias = self.bias - mean * s + self.bn_beta
        return kernel, bias

    def get_config(self) -> dict[str, Any]:
        """Keras config with the BatchNorm options."""
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}


@keras.saving.register_keras_serializable(package="hgq_ir")
class HDenseBatchNorm(FusedBatchNormMixin, HDense):
    """HDense with a fused BatchNormalization over its output channels."""


@keras.saving.register_keras_serializable(package="hgq_ir")
class HConv1DBatchNorm(FusedBatchNormMixin, HConvBase):
    """HConv1D with a fused BatchNormalization over its output channels."""

    rank = 1


@keras.saving.register_keras_serializable(package="hgq_ir")
class HConv2DBatchNorm(FusedBatchNormMixin, HConvBase):
    """HConv2D with a fused BatchNormalization over its output channels."""

    rank = 2
