"""edgec's own ONNX -> Relax converters, consulted before TVM's importer table.

A converter is called as ``converter(bb, inputs, attrs, opset)`` and either

- returns a Relax expression (a ``relax.Tuple`` for several outputs): edgec's conversion;
- returns None: TVM's converter handles the node, with ``attrs`` as the converter left them
  (a converter may normalise them first, e.g. ConvTranspose's ``output_shape`` into pads);
- raises ``UnsupportedModelError``: neither edgec nor TVM can honour the node as written (a
  mode, attribute or non-constant input that TVM would silently ignore); the message names
  the node and says what to do.

They exist where TVM's converters lose information (``Clip``) or compute something other than
the ONNX specification (the node-suite differences: each module says which).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tvm import relax

from edgec.frontend.converters.attention import convert_attention
from edgec.frontend.converters.blocked_quant import (convert_dequantize_linear,
                                                     convert_quantize_linear)
from edgec.frontend.converters.clip import convert_clip
from edgec.frontend.converters.contrib import (convert_multi_head_attention, convert_quick_gelu,
                                               convert_skip_layer_norm,
                                               convert_skip_simplified_layer_norm)
from edgec.frontend.converters.conv_transpose import convert_conv_transpose
from edgec.frontend.converters.dft import convert_dft, convert_stft
from edgec.frontend.converters.detection import convert_nms, convert_roi_align
from edgec.frontend.converters.elementwise import (convert_celu, convert_is_inf,
                                                   convert_lp_normalization, convert_mish,
                                                   convert_softplus)
from edgec.frontend.converters.losses import convert_nll_loss, convert_softmax_cross_entropy
from edgec.frontend.converters.math import (convert_cosh, convert_eye_like, convert_mod,
                                            convert_one_hot, convert_pad, convert_pow,
                                            convert_reduce_max, convert_reduce_min,
                                            convert_rms_normalization, convert_sinh)
from edgec.frontend.converters.narrow import (convert_narrow_cast, convert_narrow_decode,
                                              convert_narrow_dequantize,
                                              convert_narrow_quantize)
from edgec.frontend.converters.normalization import convert_batch_norm, convert_layer_norm
from edgec.frontend.converters.recurrent import convert_gru, convert_lstm, convert_rnn
from edgec.frontend.converters.rearrange import (convert_center_crop_pad, convert_col2im,
                                                 convert_compress, convert_reverse_sequence)
from edgec.frontend.converters.recent import (convert_bitcast, convert_bitshift, convert_cumprod,
                                              convert_swiglu, convert_swish,
                                              convert_tensor_scatter)
from edgec.frontend.converters.resize import convert_resize
from edgec.frontend.converters.rotary import convert_rotary_embedding
from edgec.frontend.converters.windows import (convert_blackman_window, convert_hamming_window,
                                               convert_hann_window)
from edgec.frontend.converters import quantized as q

# Converters written to the newest version of their operator: a model at an opset above 23
# whose other operators are unchanged since 23 may use them (frontend/opset.py).
NEWEST_VERSION = frozenset({"Swish", "SwiGLU", "CumProd", "TensorScatter", "BitShift", "Mod",
                            "Attention", "BitCast"})

Converter = Callable[[relax.BlockBuilder, Sequence, dict, int], "relax.Expr | None"]

CONVERTERS: dict[str, Converter] = {
    "Attention": convert_attention,
    "Clip": convert_clip,
    "ConvTranspose": convert_conv_transpose,
    "NonMaxSuppression": convert_nms,
    "RoiAlign": convert_roi_align,
    "IsInf": convert_is_inf,
    "Softplus": convert_softplus,
    "Mish": convert_mish,
    "Celu": convert_celu,
    "LpNormalization": convert_lp_normalization,
    "BatchNormalization": convert_batch_norm,
    "LayerNormalization": convert_layer_norm,
    "LSTM": convert_lstm,
    "GRU": convert_gru,
    "RNN": convert_rnn,
    "Resize": convert_resize,
    "NegativeLogLikelihoodLoss": convert_nll_loss,
    "SoftmaxCrossEntropyLoss": convert_softmax_cross_entropy,
    "HannWindow": convert_hann_window,
    "HammingWindow": convert_hamming_window,
    "BlackmanWindow": convert_blackman_window,
    "CenterCropPad": convert_center_crop_pad,
    "ReverseSequence": convert_reverse_sequence,
    "Col2Im": convert_col2im,
    "Compress": convert_compress,
    "RotaryEmbedding": convert_rotary_embedding,
    "Pow": convert_pow,
    "DFT": convert_dft,
    "STFT": convert_stft,
    "Sinh": convert_sinh,
    "Cosh": convert_cosh,
    "RMSNormalization": convert_rms_normalization,
    "OneHot": convert_one_hot,
    "EyeLike": convert_eye_like,
    "Pad": convert_pad,
    "Mod": convert_mod,
    "ReduceMax": convert_reduce_max,
    "ReduceMin": convert_reduce_min,
    "QuantizeLinear": convert_quantize_linear,
    "DequantizeLinear": convert_dequantize_linear,
    # newer than opset 23 (models declared at 23: frontend/opset.py)
    "Swish": convert_swish,
    "SwiGLU": convert_swiglu,
    "CumProd": convert_cumprod,
    "TensorScatter": convert_tensor_scatter,
    "BitShift": convert_bitshift,
    "BitCast": convert_bitcast,
    # ONNX Runtime's QOperator format (ai.onnx and com.microsoft)
    "QLinearConv": q.convert_qlinear_conv,
    "QLinearMatMul": q.convert_qlinear_matmul,
    "QGemm": q.convert_qgemm,
    "QLinearAdd": q.convert_qlinear_add,
    "QLinearMul": q.convert_qlinear_mul,
    "QLinearGlobalAveragePool": q.convert_qlinear_global_average_pool,
    "QLinearConcat": q.convert_qlinear_concat,
    "QLinearSigmoid": q.convert_qlinear_sigmoid,
    "QLinearLeakyRelu": q.convert_qlinear_leaky_relu,
    "ConvInteger": q.convert_conv_integer,
    # ONNX Runtime's com.microsoft transformer operators
    "QuickGelu": convert_quick_gelu,
    "SkipLayerNormalization": convert_skip_layer_norm,
    "SkipSimplifiedLayerNormalization": convert_skip_simplified_layer_norm,
    "MultiHeadAttention": convert_multi_head_attention,
    # edgec's own (domain ai.edgec): float8, float4 and 2/4-bit tensors (narrow_types.py)
    "NarrowCast": convert_narrow_cast,
    "NarrowDecode": convert_narrow_decode,
    "NarrowQuantize": convert_narrow_quantize,
    "NarrowDequantize": convert_narrow_dequantize,
}
