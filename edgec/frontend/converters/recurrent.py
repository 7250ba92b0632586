"""ONNX ``LSTM``, ``GRU`` and ``RNN`` (TVM 0.27's Relax importer has none), unrolled over the
sequence length the compile fixes.

Per direction, the input's part of every gate is one matmul over the whole sequence
(``X [seq * batch, input] @ W^T + Wb + Rb``); only the recurrent part (``H @ R^T``) is computed
step by step, so a long sequence costs one big GEMM and ``seq`` small ones. The step equations
are the ONNX specification's (gate order LSTM ``i o f c``, GRU ``z r h``), with:

- ``direction`` forward, reverse, bidirectional (outputs stacked along ``num_directions``);
- ``layout`` 0 (``[seq, batch, ...]``) and 1 (``[batch, seq, ...]``);
- ``initial_h`` / ``initial_c`` (zeros when absent), LSTM peepholes ``P`` (``i o f``),
  ``input_forget`` (LSTM: ``f = 1 - i``), GRU ``linear_before_reset``, ``clip`` (the gates'
  pre-activations clipped to ``[-clip, clip]``);
- ``sequence_lens``: steps at or past a batch row's length leave its state unchanged and
  output zeros (a reverse direction starts at the row's last real step, as ONNX Runtime does);
- ``activations`` with their ``activation_alpha`` / ``activation_beta``: Sigmoid, Tanh, Relu,
  HardSigmoid, LeakyRelu, ThresholdedRelu, ScaledTanh, Affine, Elu, Softsign, Softplus.

A stateful streaming model (the state an input and an output) needs nothing more: ``Y_h`` /
``Y_c`` are outputs and ``initial_h`` / ``initial_c`` inputs like any other tensor.
"""

from __future__ import annotations

import numpy as np
from tvm import relax

from edgec.frontend.converters.common import refuse, text
from edgec.passes.bindings import static_shape

op = relax.op

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
_DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"],
                        "RNN": ["Tanh"]}
# ONNX's defaults for the activations that take alpha / beta
_DEFAULT_ALPHA_BETA = {"LeakyRelu": (0.01, None), "ThresholdedRelu": (1.0, None),
                       "HardSigmoid": (0.2, 0.5), "Elu": (1.0, None),
                       "ScaledTanh": (1.0, 1.0), "Affine": (1.0, 0.0)}


def _const(value: float, dtype: str) -> relax.Expr:
    return relax.const(np.asarray(value, dtype), dtype)


def _activation(name: str, alpha, beta, dtype: str):
    """The function ``x -> activation(x)`` as Relax ops."""
    default_alpha, default_beta = _DEFAULT_ALPHA_BETA.get(name, (None, None))
    a = _const(default_alpha if alpha is None else alpha, dtype) if default_alpha is not None \
        else None
    b = _const(default_beta if beta is None else beta, dtype) if default_beta is not None \
        else None
    one, zero = _const(1.0, dtype), _const(0.0, dtype)
    table = {
        "Sigmoid": op.sigmoid,
        "Tanh": op.tanh,
        "Relu": op.nn.relu,
        "HardSigmoid": lambda x: op.clip(op.add(op.multiply(x, a), b), 0.0, 1.0),
        "LeakyRelu": lambda x: op.where(op.less(x, zero), op.multiply(x, a), x),
        "ThresholdedRelu": lambda x: op.where(op.greater(x, a), x, op.zeros_like(x)),
        "ScaledTanh": lambda x: op.multiply(a, op.tanh(op.multiply(b, x))),
        "Affine": lambda x: op.add(op.multiply(x, a), b),
        "Elu": lambda x: op.where(op.less(x, zero), op.multiply(a, op.subtract(op.exp(x), one)),
                                  x),
        "Softsign": lambda x: op.divide(x, op.add(one, op.abs(x))),
        "Softplus": lambda x: op.log(op.add(one, op.exp(x))),
    }
    return table.get(name)


def _attr_list(attrs: dict, name: str) -> list:
    value = attrs.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class _Recurrent:
    def __init__(self, kind: str, bb: relax.BlockBuilder, inputs, attrs: dict):
        self.kind, self.bb, self.attrs = kind, bb, attrs
        self.x = inputs[0]
        self.w, self.r = inputs[1], inputs[2]
        self.b = inputs[3] if len(inputs) > 3 else None
        self.lens = inputs[4] if len(inputs) > 4 else None
        self.h0 = inputs[5] if len(inputs) > 5 else None
        self.c0 = inputs[6] if len(inputs) > 6 and kind == "LSTM" else None
        self.p = inputs[7] if len(inputs) > 7 and kind == "LSTM" else None
        shape = static_shape(self.x)
        if shape is None or len(shape) != 3:
            raise self.refuse("has an input X without a static 3-d shape",
                              "give the input's shape (--input-shape)")
        self.layout = int(attrs.get("layout", 0))
        self.seq, self.batch = (shape[0], shape[1]) if self.layout == 0 else (shape[1], shape[0])
        self.dtype = str(self.x.ty.dtype)
        w_shape = static_shape(self.w)
        if w_shape is None:
            raise self.refuse("has a weight W without a static shape", "check the model")
        self.hidden = int(attrs.get("hidden_size", w_shape[1] // _GATES[kind]))
        direction = text(attrs.get("direction", "forward"))
        if direction not in ("forward", "reverse", "bidirectional"):
            raise self.refuse(f"has direction '{direction}'",
                              "use forward, reverse or bidirectional")
        self.directions = ["forward", "reverse"] if direction == "bidirectional" else [direction]
        clip = attrs.get("clip")
        self.clip = float(clip) if clip is not None else None
        self.activations = self._activations()

    def refuse(self, what: str, todo: str):
        return refuse(self.kind, self.attrs, what, todo)

    def _activations(self) -> list:
        per_direction = len(_DEFAULT_ACTIVATIONS[self.kind])
        names = [text(n) for n in _attr_list(self.attrs, "activations")] \
            or _DEFAULT_ACTIVATIONS[self.kind] * len(self.directions)
        if len(names) != per_direction * len(self.directions):
            raise self.refuse(f"lists {len(names)} activations",
                              f"give {per_direction} per direction")
        alphas = _attr_list(self.attrs, "activation_alpha")
        betas = _attr_list(self.attrs, "activation_beta")
        functions, used_alpha, used_beta = [], 0, 0
        for name in names:
            default_alpha, default_beta = _DEFAULT_ALPHA_BETA.get(name, (None, None))
            alpha = beta = None
            if default_alpha is not None and used_alpha < len(alphas):
                alpha, used_alpha = float(alphas[used_alpha]), used_alpha + 1
            if default_beta is not None and used_beta < len(betas):
                beta, used_beta = float(betas[used_beta]), used_beta + 1
            function = _activation(name, alpha, beta, self.dtype)
            if function is None:
                raise self.refuse(f"uses the activation '{name}'",
                                  "use one of Sigmoid, Tanh, Relu, HardSigmoid, LeakyRelu, "
                                  "ThresholdedRelu, ScaledTanh, Affine, Elu, Softsign, Softplus")
            functions.append(function)
        return [functions[i * per_direction:(i + 1) * per_direction]
                for i in range(len(self.directions))]

    # -- helpers -----------------------------------------------------------------------------
    def emit(self, expr):
        return self.bb.emit(expr)

    def take(self, expr, index: int, axis: int = 0):
        """``expr[index]`` along ``axis``, the axis removed."""
        return self.emit(op.squeeze(op.strided_slice(expr, [axis], [index], [index + 1]),
                                    [axis]))

    def clipped(self, expr):
        return op.clip(expr, -self.clip, self.clip) if self.clip is not None else expr

    def state(self, initial, d: int):
        """Direction ``d``'s initial state [batch, hidden] (zeros when absent)."""
        if initial is None:
            return self.emit(op.zeros((self.batch, self.hidden), self.dtype))
        if self.layout == 1:   # [batch, num_directions, hidden]
            return self.take(initial, d, axis=1)
        return self.take(initial, d)

    # -- the recurrence ----------------------------------------------------------------------
    def convert(self) -> relax.Expr:
        x = self.x if self.layout == 0 else self.emit(op.permute_dims(self.x, [1, 0, 2]))
        size = static_shape(x)[2]
        flat = self.emit(op.reshape(x, (self.seq * self.batch, size)))
        mask = self._mask()
        ys, hs, cs = [], [], []
        for d, direction in enumerate(self.directions):
            w = self.take(self.w, d)
            r_t = self.emit(op.permute_dims(self.take(self.r, d), [1, 0]))
            gates = _GATES[self.kind]
            projected = op.matmul(flat, op.permute_dims(w, [1, 0]))
            bias_r = None
            if self.b is not None:
                b = self.take(self.b, d)
                wb = op.strided_slice(b, [0], [0], [gates * self.hidden])
                bias_r = self.emit(op.strided_slice(b, [0], [gates * self.hidden],
                                                    [2 * gates * self.hidden]))
                if self.kind == "GRU" and int(self.attrs.get("linear_before_reset", 0)):
                    # Rb_h stays inside r * (H R_h^T + Rb_h); Rb_z, Rb_r fold into the input part
                    zr = op.strided_slice(bias_r, [0], [0], [2 * self.hidden])
                    folded = op.concat([zr, op.zeros((self.hidden,), self.dtype)], 0)
                    projected = op.add(projected, op.add(wb, folded))
                else:
                    projected = op.add(projected, op.add(wb, bias_r))
            projected = self.emit(op.reshape(projected, (self.seq, self.batch,
                                                         gates * self.hidden)))
            h = self.state(self.h0, d)
            c = self.state(self.c0, d) if self.kind == "LSTM" else None
            peep = self.take(self.p, d) if self.p is not None else None
            steps = range(self.seq) if direction == "forward" else range(self.seq - 1, -1, -1)
            outputs = [None] * self.seq
            for t in steps:
                h_new, c_new = self._step(self.take(projected, t), h, c, r_t, bias_r, peep,
                                          self.activations[d])
                if mask is not None:
                    keep = self.take(mask, t)           # [batch, 1]: 1 inside the row's length
                    outputs[t] = self.emit(op.multiply(h_new, keep))
                    h = self.emit(op.add(op.multiply(h_new, keep),
                                         op.multiply(h, op.subtract(_const(1.0, self.dtype),
                                                                    keep))))
                    if c is not None:
                        c = self.emit(op.add(op.multiply(c_new, keep),
                                             op.multiply(c, op.subtract(
                                                 _const(1.0, self.dtype), keep))))
                else:
                    outputs[t] = h = h_new
                    c = c_new
            ys.append(self.emit(op.stack(outputs, axis=0)))   # [seq, batch, hidden]
            hs.append(h)
            cs.append(c)
        y = self.emit(op.stack(ys, axis=1))                   # [seq, dirs, batch, hidden]
        y_h = self.emit(op.stack(hs, axis=0))                 # [dirs, batch, hidden]
        results = [y, y_h]
        if self.kind == "LSTM":
            results.append(self.emit(op.stack(cs, axis=0)))
        if self.layout == 1:
            results = [self.emit(op.permute_dims(results[0], [2, 0, 1, 3]))] + \
                [self.emit(op.permute_dims(s, [1, 0, 2])) for s in results[1:]]
        return relax.Tuple(results)

    def _mask(self):
        """[seq, batch, 1]: 1.0 where step t < the row's length, or None without lengths."""
        if self.lens is None:
            return None
        steps = op.reshape(op.arange(0, self.seq, 1, "int32"), (self.seq, 1))
        lens = op.reshape(op.astype(self.lens, "int32"), (1, self.batch))
        inside = op.astype(op.less(steps, lens), self.dtype)
        return self.emit(op.reshape(inside, (self.seq, self.batch, 1)))

    def _split(self, expr, count: int) -> list:
        return [self.emit(op.strided_slice(expr, [1], [i * self.hidden], [(i + 1) * self.hidden]))
                for i in range(count)]

    def _step(self, x_part, h, c, r_t, bias_r, peep, acts):
        """One step: (H_t, C_t) from the step's input part of the gates and the state."""
        recurrent = self.emit(op.matmul(h, r_t))
        if self.kind == "RNN":
            (f,) = acts
            return self.emit(f(self.clipped(op.add(x_part, recurrent)))), None
        if self.kind == "GRU":
            f, g = acts
            xz, xr, xh = self._split(x_part, 3)
            hz, hr, hh = self._split(recurrent, 3)
            z = self.emit(f(self.clipped(op.add(xz, hz))))
            r = self.emit(f(self.clipped(op.add(xr, hr))))
            if int(self.attrs.get("linear_before_reset", 0)):
                if bias_r is not None:
                    hh = op.add(hh, op.strided_slice(bias_r, [0], [2 * self.hidden],
                                                     [3 * self.hidden]))
                candidate = op.add(xh, op.multiply(r, hh))
            else:
                r_h = op.strided_slice(r_t, [1], [2 * self.hidden], [3 * self.hidden])
                candidate = op.add(xh, op.matmul(op.multiply(r, h), r_h))
            n = self.emit(g(self.clipped(candidate)))
            one = _const(1.0, self.dtype)
            return self.emit(op.add(op.multiply(op.subtract(one, z), n),
                                    op.multiply(z, h))), None
        f, g, act_h = acts
        xi, xo, xf, xc = self._split(x_part, 4)
        hi, ho, hf, hc = self._split(recurrent, 4)
        pi = po = pf = None
        if peep is not None:
            pi, po, pf = (op.strided_slice(peep, [0], [k * self.hidden], [(k + 1) * self.hidden])
                          for k in range(3))
        pre_i = op.add(xi, hi)
        if pi is not None:
            pre_i = op.add(pre_i, op.multiply(pi, c))
        i = self.emit(f(self.clipped(pre_i)))
        if int(self.attrs.get("input_forget", 0)):
            forget = self.emit(op.subtract(_const(1.0, self.dtype), i))
        else:
            pre_f = op.add(xf, hf)
            if pf is not None:
                pre_f = op.add(pre_f, op.multiply(pf, c))
            forget = self.emit(f(self.clipped(pre_f)))
        cand = self.emit(g(self.clipped(op.add(xc, hc))))
        c_new = self.emit(op.add(op.multiply(forget, c), op.multiply(i, cand)))
        pre_o = op.add(xo, ho)
        if po is not None:
            pre_o = op.add(pre_o, op.multiply(po, c_new))
        o = self.emit(f(self.clipped(pre_o)))
        return self.emit(op.multiply(o, act_h(c_new))), c_new


def _converter(kind: str):
    def convert(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
        return _Recurrent(kind, bb, inputs, attrs).convert()

    convert.__name__ = f"convert_{kind.lower()}"
    return convert


convert_lstm = _converter("LSTM")
convert_gru = _converter("GRU")
convert_rnn = _converter("RNN")
