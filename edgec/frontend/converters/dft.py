"""``DFT`` and ``STFT`` (TVM's importer has neither): with static shapes and a constant length,
a discrete Fourier transform along one axis is a matrix product with constant cos/sin matrices
(computed in float64, stored in the input's type), which the compiler runs as a GEMM.

DFT: the signal axis is moved last, zero-padded or cut to the transform length, multiplied by
the matrices and moved back; real inputs (last dimension 1) and complex ones (2: real,
imaginary) both give complex outputs ``[..., 2]``. ``onesided`` keeps the first ``L // 2 + 1``
frequencies; ``inverse`` divides by ``L``; ``inverse`` with ``onesided`` is the inverse real
transform: Hermitian symmetry supplies the missing frequencies (each inner one counted twice,
the imaginary parts of the DC and Nyquist terms ignored), the output is real ``[..., L, 1]``.
STFT: frames of ``frame_length`` every ``frame_step`` samples, times the window, each a
DFT (one-sided by default) to ``[batch, frames, bins, 2]``.

The products are accumulated in float64 (inputs converted, the result converted back): in
float32 an inverse transform's imaginary parts, which are 0, came out at 2e-7, beyond what
ONNX's own tests accept. DFTs in edge models are small (audio frames), so the cost is small.
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax import op

from edgec.frontend.converters.common import optional_input, refuse
from edgec.passes.bindings import constant_array, static_shape


def _constant_int(name: str, attrs: dict, expr, what: str) -> int | None:
    if expr is None:
        return None
    value = constant_array(expr)
    if value is None:
        raise refuse(name, attrs, f"takes its {what} from a value that is not a constant",
                     "make it a constant, or freeze the input that gives it "
                     "(--freeze-input NAME=VALUE)")
    return int(value.reshape(-1)[0]) if value.size else None


def _matrices(n_in: int, length: int, inverse: bool, onesided: bool, dtype: str):
    """(C, S) with ``out_re = re @ C + im @ S`` and ``out_im = im @ C - re @ S`` (forward;
    the inverse flips the sign of S), over ``n_in`` input samples."""
    t = np.arange(n_in, dtype=np.float64).reshape(-1, 1)
    if inverse and onesided:  # frequencies in, real samples out
        k = t
        out = np.arange(length, dtype=np.float64).reshape(1, -1)
        weight = np.full((n_in, 1), 2.0)
        weight[0] = 1.0
        if length % 2 == 0 and n_in > length // 2:
            weight[length // 2] = 1.0
        weight[k[:, 0] > length // 2] = 0.0
        angle = 2.0 * np.pi * k * out / length
        return (weight * np.cos(angle) / length).astype(dtype), \
            (-weight * np.sin(angle) / length).astype(dtype)
    bins = length // 2 + 1 if onesided else length
    k = np.arange(bins, dtype=np.float64).reshape(1, -1)
    angle = 2.0 * np.pi * t * k / length
    scale = 1.0 / length if inverse else 1.0
    sign = -1.0 if inverse else 1.0
    return (np.cos(angle) * scale).astype(dtype), (sign * np.sin(angle) * scale).astype(dtype)


def _transform(bb, re, im, axis: int, length: int, inverse: bool, onesided: bool, dtype: str):
    """Complex (re, im: None for a real signal) transform along ``axis`` of the component
    tensors; returns (re, im) or (samples, None) for the inverse real transform."""
    rank = len(static_shape(re))
    order = [a for a in range(rank) if a != axis] + [axis]
    back = list(np.argsort(order))
    n_in = length // 2 + 1 if inverse and onesided else length

    def fit(x):
        x = op.permute_dims(x, order)
        have = static_shape(bb.normalize(x))[-1]
        if have > n_in:
            x = op.strided_slice(x, [rank - 1], [0], [n_in])
        elif have < n_in:
            x = op.nn.pad(x, [0, 0] * (rank - 1) + [0, n_in - have], pad_value=0.0)
        return bb.normalize(x)

    work = "float64"
    cos, sin = (relax.const(m, work) for m in _matrices(n_in, length, inverse, onesided, work))
    re = fit(op.astype(re, work))
    im = fit(op.astype(im, work)) if im is not None else None
    if inverse and onesided:
        out = op.matmul(re, cos)
        if im is not None:
            out = op.add(out, op.matmul(im, sin))
        return bb.normalize(op.astype(op.permute_dims(out, back), dtype)), None
    out_re = op.matmul(re, cos)
    out_im = op.negative(op.matmul(re, sin))
    if im is not None:
        out_re = op.add(out_re, op.matmul(im, sin))
        out_im = op.add(out_im, op.matmul(im, cos))
    return bb.normalize(op.astype(op.permute_dims(out_re, back), dtype)), \
        bb.normalize(op.astype(op.permute_dims(out_im, back), dtype))


def _split(bb, x):
    """(re, im or None) of a ``[..., 1|2]`` tensor, the last axis dropped."""
    shape = static_shape(x)
    rank = len(shape)
    re = op.squeeze(op.strided_slice(x, [rank - 1], [0], [1]), [rank - 1])
    im = op.squeeze(op.strided_slice(x, [rank - 1], [1], [2]), [rank - 1]) \
        if shape[-1] == 2 else None
    return bb.normalize(re), (bb.normalize(im) if im is not None else None)


def convert_dft(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    name = "DFT"
    x = inputs[0]
    shape = static_shape(x)
    if shape is None or shape[-1] not in (1, 2):
        raise refuse(name, attrs, "has an input whose last dimension is not 1 or 2 (or whose "
                     "shape is unknown)", "give [..., 1] real or [..., 2] complex signals")
    length = _constant_int(name, attrs, optional_input(inputs, 1), "dft_length")
    if opset >= 20:
        axis = _constant_int(name, attrs, optional_input(inputs, 2), "axis")
        axis = -2 if axis is None else axis
    else:
        axis = int(attrs.get("axis", 1))
    rank = len(shape)
    axis %= rank
    if axis == rank - 1:
        raise refuse(name, attrs, "transforms the last axis", "that axis holds (re, im)")
    inverse, onesided = bool(attrs.get("inverse", 0)), bool(attrs.get("onesided", 0))
    if length is None:
        length = 2 * (shape[axis] - 1) if inverse and onesided else shape[axis]
    dtype = str(x.ty.dtype)
    re, im = _split(bb, x)
    out_re, out_im = _transform(bb, re, im, axis, length, inverse, onesided, dtype)
    if out_im is None:
        return op.expand_dims(out_re, rank - 1)
    return op.stack([out_re, out_im], axis=rank - 1)


def convert_stft(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    name = "STFT"
    signal = inputs[0]
    shape = static_shape(signal)
    if shape is None or len(shape) != 3:
        raise refuse(name, attrs, "has a signal that is not [batch, length, 1|2]",
                     "give a static [batch, length, 1] or [batch, length, 2] signal")
    step = _constant_int(name, attrs, inputs[1], "frame_step")
    window = optional_input(inputs, 2)
    frame_length = _constant_int(name, attrs, optional_input(inputs, 3), "frame_length")
    if frame_length is None:
        if window is None:
            raise refuse(name, attrs, "has neither a window nor a frame_length",
                         "give one of them")
        frame_length = static_shape(window)[0]
    frames = (shape[1] - frame_length) // step + 1
    index = (np.arange(frames).reshape(-1, 1) * step + np.arange(frame_length).reshape(1, -1))
    framed = op.take(signal, relax.const(index.astype(np.int64), "int64"), axis=1)
    framed = bb.normalize(framed)  # [batch, frames, frame_length, 1|2]
    re, im = _split(bb, framed)
    if window is not None:
        w = op.reshape(window, [1, 1, frame_length])
        re = bb.normalize(op.multiply(re, w))
        im = bb.normalize(op.multiply(im, w)) if im is not None else None
    onesided = bool(attrs.get("onesided", 1))
    out_re, out_im = _transform(bb, re, im, 2, frame_length, False, onesided,
                                str(signal.ty.dtype))
    return op.stack([out_re, out_im], axis=3)
