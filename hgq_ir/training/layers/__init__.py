"""HGQ training layers on Keras 3, and the contract the converter reads from them.

Layers: ``HQuantize``, ``HDense``, ``HConv1D``, ``HConv2D``, ``HActivation``, ``HAdd``,
``HDenseBatchNorm``, ``HConv1DBatchNorm``, ``HConv2DBatchNorm`` (H-layers: a quantizer on their
output, trained bitwidths, ``beta * bops`` added to the loss) and ``PMaxPooling1D/2D``,
``PAveragePooling1D/2D`` (aliases ``PMaxPool*``, ``PAvgPool*``), ``PConcatenate``, ``PReshape``,
``PFlatten``, ``Signature`` (passive layers). The first layer of a model should be HQuantize or
Signature (otherwise the first kernel layer has no input widths and no BOPs). Every layer must be
called once (:class:`hgq_ir.ir.errors.LayerReuseError` otherwise). Layers are channels-last.

Frontend contract (read without running the model, after ``trace_minmax``)
=========================================================================

Quantizers. Every H-layer has ``layer.paq`` (output quantizer) and kernel layers also
``layer.kq``. ``q.get_bits_exact(x=None, pos_only=None) -> (k, i, f)`` gives int64 numpy arrays,
``i`` excluding the sign, width ``k + i + f``:

* activations (``x is None``): from the recorded ``[min, max]`` and ``f = round_half_even(fbw)``:
  ``k = min < 0``; ``i`` = smallest with ``max <= 2**i - 2**-f`` and ``-2**i <= min``, clipped to
  ``[-f-k, 32]``; elements of width 0 are (0, 0, 0) (constant zero). Shape = ``q.fbw.shape``:
  the value shape with every ``skip_dims`` axis set to 1. The default paq skips the batch axis
  only, so the shape is ``(1,) + output_shape[1:]`` and broadcasts against a batched value (drop
  the leading 1 for a per-sample format). ``pos_only`` defaults to ``q.pos_only`` (True exactly
  for kernel layers with ``activation='relu'``: then ``k = 0`` and ``i`` comes from
  ``max(max, 0)``, i.e. the format of the *post-relu* value). Raises
  :class:`hgq_ir.ir.errors.UntracedModelError` naming the layer ("run trace_minmax first") when a
  range was never recorded.
* weights (``x`` given): ``x`` is quantized with the inference rounding of ``q`` and each element
  gets its own span of bits: ``i = floor(log2|w|) + 1``, ``f`` = smallest f with ``w * 2**f``
  integer, ``k = w < 0``; zeros are (0, 0, 0). Shape = ``x.shape``. ``layer.kernel_kif()`` is
  this on the fused kernel.

Kernel layers (HDense, HConv*, H*BatchNorm): ``layer.fused_qkernel`` and ``layer.fused_qbias``
(numpy float32; BatchNorm fused with the moving statistics; quantized; ``fused_qbias`` is None
without bias), ``layer.activation_name`` ('linear' or 'relu'), ``layer.parallel_factor`` (int;
HDense: number of matmul positions, 1 for 2-D input; HConv*: the argument, default 1),
``layer.paq.inference_round`` ('RND' or 'TRN'), ``layer.paq.bias_folds_rounding``,
``layer.paq.pos_only``, ``layer.output_kif()`` (= ``paq.get_bits_exact()``).

Exact inference semantics. With ``f = round(paq.fbw)`` (per element, broadcast), an HDense in
inference mode computes, in float32 (exact while partial sums fit in 24 bits)::

    z   = x @ fused_qkernel + fused_qbias                      # conv: the same convolution
    q   = floor(z * 2**f + (0.5 if paq.inference_round == 'RND' else 0)) / 2**f
    out = relu(q) if activation_name == 'relu' else q

No integer clipping happens in the layer; the integer bits matter only after conversion. Hence,
wherever no overflow happens, ``out == quantize(z_or_relu_z, FixedFormat(k, i, f,
paq.inference_round, overflow))`` for any overflow mode, with ``(k, i, f) = output_kif()`` and
``z_or_relu_z = relu(z)`` for relu layers (rounding and relu commute). "Bias covers rounding": when
the paq rounds to nearest and its grid is uniform per output channel (``skip_dims`` covering all
but the channel axis, e.g. the default ``(0,)`` on a Dense output), ``fused_qbias`` already
contains ``+2**-(f_c+1)`` per channel, ``paq.bias_folds_rounding`` is True and
``inference_round`` is 'TRN'. Otherwise ``inference_round`` is 'RND' (or 'TRN' for
``rnd_strategy='floor'``). The bias itself is rounded to nearest on the channel grid
``f_c = round(max of fbw over non-channel axes)`` before the half LSB is added.

Other H-layers: HQuantize computes ``quantize_inference(x)``, HActivation
``paq(activation(x))`` and HAdd ``paq(sum(inputs))``, each with the same ``q`` formula (no bias,
so ``inference_round`` is 'RND' unless the strategy is floor; 'auto' means floor for HQuantize and
HAdd, round for HActivation, as upstream).

Signature(keep_negative, bits, int_bits): ``layer.format`` is ``FixedFormat(k, int_bits - k,
bits - int_bits, 'TRN', 'SAT')`` (``int_bits`` counts the sign); ``get_bits_exact()`` too.

Passive layers: plain Keras semantics. PAveragePooling with a non-power-of-2 pool (or border
pool) is allowed but warns :class:`hgq_ir.ir.errors.NotBitExactWarning`: it is not bit-exact.
"""

from hgq_ir.training.layers.activation import HActivation
from hgq_ir.training.layers.add import HAdd
from hgq_ir.training.layers.base import BitwidthMixin, HLayerBase
from hgq_ir.training.layers.batchnorm import HConv1DBatchNorm, HConv2DBatchNorm, HDenseBatchNorm
from hgq_ir.training.layers.conv import HConv1D, HConv2D
from hgq_ir.training.layers.dense import HDense
from hgq_ir.training.layers.graph import iter_layers
from hgq_ir.training.layers.kernel import HKernelLayer
from hgq_ir.training.layers.passive import (
    PassiveMixin,
    PAveragePooling1D,
    PAveragePooling2D,
    PAvgPool1D,
    PAvgPool2D,
    PConcatenate,
    PFlatten,
    PMaxPool1D,
    PMaxPool2D,
    PMaxPooling1D,
    PMaxPooling2D,
    PReshape,
)
from hgq_ir.training.layers.quantize import HQuantize
from hgq_ir.training.layers.signature import Signature

__all__ = [
    "BitwidthMixin",
    "HActivation",
    "HAdd",
    "HConv1D",
    "HConv1DBatchNorm",
    "HConv2D",
    "HConv2DBatchNorm",
    "HDense",
    "HDenseBatchNorm",
    "HKernelLayer",
    "HLayerBase",
    "HQuantize",
    "PAvgPool1D",
    "PAvgPool2D",
    "PAveragePooling1D",
    "PAveragePooling2D",
    "PConcatenate",
    "PFlatten",
    "PMaxPool1D",
    "PMaxPool2D",
    "PMaxPooling1D",
    "PMaxPooling2D",
    "PReshape",
    "PassiveMixin",
    "Signature",
    "iter_layers",
]
