"""ONNX's backend node test cases (``onnx.backend.test.case.node``, the generators behind the
ONNX backend test suite) run through ``edgec.compile`` and compared with their reference
outputs the way ONNX's runner compares them (shape, dtype, ``rtol``/``atol`` per case, atol at
least 1e-5 as the model-coverage measurement defines it).

Every case ends in one outcome:

- ``pass``      compiled, ran, every output matches (float16 outputs to two ulps);
- ``wrong``     compiled and ran, but an output differs (a silent wrong answer: never allowed);
- ``refused``   an ``EdgecError`` (a clear message: unsupported operator, mode or input);
- ``internal``  any other exception (an importer or compiler failure: model coverage);
- ``skipped``   compiled, but the case's data cannot be fed or compared (sequences,
                optionals, omitted optional inputs);
- ``crash`` / ``timeout``   the worker process died or took longer than the limit.

The whole suite (about 1900 cases, most of an hour on 2 cores) runs as a script, each case in a
long-lived worker process that is restarted after a crash or timeout::

    python -m tests.node_suite.harness                  # all cases, a summary and the failures
    python -m tests.node_suite.harness -k isinf -v      # cases whose name matches a regex
    python -m tests.node_suite.harness --json out.json  # every outcome, for comparing runs
    python -m tests.node_suite.harness --engine onnxruntime   # the same cases through ORT
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import json
import logging
import os
import re
import select
import subprocess
import sys
import time
import warnings

import numpy as np

# ONNX's runner compares with rtol 1e-3, one float16 ulp: two correctly working implementations
# of a float16 graph differ by a rounding here and there (the reference rounds every step of a
# float16 softmax to float16: 14 of its 48 values were off the correctly rounded result, edgec's
# none). float16 outputs are compared to two ulps.
FLOAT16_RTOL = 2.0 ** -9
BFLOAT16_RTOL = 2.0 ** -6  # the same two ulps for bfloat16's 8-bit significand
# The measurement's tolerances (rtol 1e-3, atol 1e-5), or the case's own where looser. ONNX's
# default atol, 1e-7, asks float32 outputs near 0 to reproduce the reference's rounding noise:
# an inverse DFT's imaginary parts are 0, numpy's float32 FFT gives 2e-7, edgec 0.
MIN_ATOL = 1e-5

OUTCOMES = ("pass", "wrong", "refused", "internal", "skipped", "crash", "timeout")


@dataclasses.dataclass
class CaseResult:
    name: str
    outcome: str
    detail: str = ""


@functools.cache
def all_cases() -> dict:
    """name -> onnx TestCase (model + data sets), for every node test ONNX generates."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.case.node import collect_testcases

        return {case.name: case for case in collect_testcases(None)}


def case_names(pattern: str | None = None) -> list[str]:
    names = sorted(all_cases())
    return [n for n in names if re.search(pattern, n)] if pattern else names


def _arrays(values) -> list | None:
    """Data-set values as numpy arrays; None if any is not a plain tensor."""
    from onnx import numpy_helper

    arrays = []
    for value in values:
        if isinstance(value, np.ndarray) or np.isscalar(value):
            arrays.append(np.asarray(value))
        elif hasattr(value, "data_type"):  # a TensorProto (types numpy spells differently)
            try:
                arrays.append(numpy_helper.to_array(value))
            except Exception:  # noqa: BLE001 - a type numpy cannot hold
                return None
        else:
            return None
    return arrays


def run_case(name: str) -> CaseResult:
    """Compile and run one case in this process."""
    import edgec
    from edgec.errors import EdgecError

    case = all_cases()[name]
    model = case.model
    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [i.name for i in model.graph.input if i.name not in initializers]
    inputs_list, outputs_list = case.data_sets[0]
    inputs, expected = _arrays(inputs_list), _arrays(outputs_list)
    feedable = inputs is not None and len(inputs) == len(graph_inputs)
    feeds = dict(zip(graph_inputs, inputs)) if feedable else {}
    frozen: dict = {}
    try:
        while True:
            try:
                artifact = edgec.compile(model, "host", tuning_logs=False,
                                         input_shapes={k: v.shape for k, v in feeds.items()
                                                       if v.ndim} or None,
                                         freeze_inputs=frozen)
                break
            except EdgecError as err:
                # as a user would: an input the error asks to freeze gets the case's value
                asked = re.search(r"--freeze-input (\S+)=VALUE", str(err))
                if asked is None or asked.group(1) not in feeds:
                    raise
                frozen[asked.group(1)] = feeds.pop(asked.group(1))
        if not feedable or expected is None:
            return CaseResult(name, "skipped", "compiled, but its test data are sequences, "
                              "optionals or omitted optional inputs")
        got = artifact.run(feeds)
    except EdgecError as err:
        return CaseResult(name, "refused", f"{type(err).__name__}: {_line(err)}")
    except Exception as err:  # noqa: BLE001 - classified, not hidden
        return CaseResult(name, "internal", f"{type(err).__name__}: {_line(err)}")
    names = [o.name for o in model.graph.output]
    problems = []
    for out_name, want in zip(names, expected):
        problem = _difference(got.get(out_name), want, case.rtol, case.atol)
        if problem:
            problems.append(f"{out_name}: {problem}")
    if problems:
        return CaseResult(name, "wrong", "; ".join(problems))
    return CaseResult(name, "pass", f"frozen: {', '.join(frozen)}" if frozen else "")


def run_case_onnxruntime(name: str) -> CaseResult:
    """The same case through ONNX Runtime, the engine the pass rate is measured against: it is
    fed every value of the data set as its Python API takes it (sequences as lists, optionals
    as None or the value) and its outputs are compared under the same rules."""
    import onnxruntime as ort

    case = all_cases()[name]
    model = case.model
    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [i.name for i in model.graph.input if i.name not in initializers]
    inputs_list, outputs_list = case.data_sets[0]
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - ORT's refusal, its own message
        return CaseResult(name, "refused", f"{type(err).__name__}: {_line(err)}")
    feeds = {}
    for input_name, value in zip(graph_inputs, inputs_list):
        arrays = _arrays([value]) if not isinstance(value, list) else None
        feeds[input_name] = arrays[0] if arrays is not None else value
    try:
        got = session.run(None, feeds)
    except Exception as err:  # noqa: BLE001
        return CaseResult(name, "internal", f"{type(err).__name__}: {_line(err)}")
    problems = []
    for out, g, want in zip(model.graph.output, got, outputs_list):
        if isinstance(want, list) or isinstance(g, list):
            if not isinstance(g, list) or len(g) != len(want):
                problems.append(f"{out.name}: sequence of {len(g) if isinstance(g, list) else g}")
                continue
            issues = [_difference(gi, np.asarray(wi), case.rtol, case.atol)
                      for gi, wi in zip(g, want)]
            problems += [f"{out.name}: {p}" for p in issues if p]
            continue
        if want is None or g is None:
            if (want is None) != (g is None):
                problems.append(f"{out.name}: optional {'missing' if g is None else 'present'}")
            continue
        expected = _arrays([want])
        if expected is None:
            problems.append(f"{out.name}: cannot compare a {type(want).__name__}")
            continue
        problem = _difference(_ort_bits(g, expected[0]), expected[0], case.rtol, case.atol)
        if problem:
            problems.append(f"{out.name}: {problem}")
    if problems:
        return CaseResult(name, "wrong", "; ".join(problems))
    return CaseResult(name, "pass")


def _ort_bits(got, want: np.ndarray):
    """ORT's Python API returns float8 tensors as their uint8 bit patterns: seen as the type
    they hold."""
    from edgec.reference.onnxruntime_ref import from_ort_bytes

    got = np.asarray(got)
    if want.dtype == np.uint8 or want.dtype.itemsize != 1 or got.size != want.size:
        return got
    return from_ort_bytes(want.dtype.name, got.reshape(want.shape))


def _difference(got, want: np.ndarray, rtol: float, atol: float) -> str:
    """Why ``got`` is not ``want`` under ONNX's runner's rules, or ""."""
    if got is None:
        return "missing"
    got = np.asarray(got)
    if got.shape != want.shape:
        return f"shape {list(got.shape)}, expected {list(want.shape)}"
    if got.dtype != want.dtype:
        return f"dtype {got.dtype}, expected {want.dtype}"
    if want.dtype == np.float16:
        rtol = max(rtol, FLOAT16_RTOL)
    if want.dtype.name == "bfloat16":
        rtol = max(rtol, BFLOAT16_RTOL)
    atol = max(atol, MIN_ATOL)
    if want.dtype == object or want.dtype.kind in "bUSiu":
        bad = got != want
        return f"{int(np.sum(bad))} of {want.size} elements differ" if np.any(bad) else ""
    g, w = got.astype(np.float64), want.astype(np.float64)
    finite = np.isfinite(w)
    with np.errstate(invalid="ignore"):
        close = finite & (np.abs(g - w) <= atol + rtol * np.abs(np.where(finite, w, 0)))
    exact = ~finite & ((g == w) | (np.isnan(g) & np.isnan(w)))  # infinities, NaN: same
    bad = ~(close | exact)
    if np.any(bad):
        finite = bad & np.isfinite(g) & np.isfinite(w)
        worst = float(np.max(np.abs(g - w)[finite])) if np.any(finite) else float("nan")
        return f"{int(np.sum(bad))} of {w.size} elements differ (max abs {worst:.3g})"
    return ""


def _line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:300]


# -- the worker protocol: case names in on stdin, one JSON result per line out --------------

def _worker(engine: str = "edgec") -> None:
    run = run_case_onnxruntime if engine == "onnxruntime" else run_case
    logging.disable(logging.WARNING)
    # Results go to the original stdout; anything else printed (by Python or C++ code) is
    # sent to stderr, so that it cannot be mistaken for a result.
    results = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        result = run(name)
        results.write(_MARK + json.dumps(dataclasses.asdict(result)) + "\n")


_MARK = "@@edgec-node-suite@@ "


class _Worker:
    def __init__(self, engine: str = "edgec"):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.node_suite.harness",
                                      "--worker", "--engine", engine], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, bufsize=1)

    def run(self, name: str, timeout: float) -> CaseResult:
        try:
            self.proc.stdin.write(name + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return CaseResult(name, "crash", "worker died before the case")
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            return CaseResult(name, "timeout", f"over {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line.startswith(_MARK):
            self.close()
            return CaseResult(name, "crash", f"worker exited with {self.proc.returncode}")
        return CaseResult(**json.loads(line[len(_MARK):]))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()


def run_cases(names: list[str], timeout: float = 120.0, verbose: bool = False,
              engine: str = "edgec") -> list[CaseResult]:
    """Run ``names`` in a worker process (restarted after a crash or timeout)."""
    results: list[CaseResult] = []
    worker = _Worker(engine)
    start = time.monotonic()
    for index, name in enumerate(names, start=1):
        if not worker.alive():
            worker = _Worker(engine)
        result = worker.run(name, timeout)
        results.append(result)
        if verbose or result.outcome in ("wrong", "crash", "timeout"):
            print(f"[{index}/{len(names)} {time.monotonic() - start:5.0f}s] {result.outcome:8s} "
                  f"{name} {result.detail}", flush=True)
        elif index % 50 == 0:
            print(f"[{index}/{len(names)} {time.monotonic() - start:5.0f}s]", flush=True)
    worker.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", "--filter", help="only cases whose name matches this regex")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    parser.add_argument("--json", help="write every outcome to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case")
    parser.add_argument("--bisect", metavar="CASE",
                        help="find the first node of CASE whose output is wrong")
    parser.add_argument("--engine", choices=("edgec", "onnxruntime"), default="edgec",
                        help="the engine to run the cases through (onnxruntime: the reference "
                        "the pass rate is measured against)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.engine)
        return 0
    if args.bisect:
        print(first_difference(args.bisect))
        return 0
    names = case_names(args.filter)
    results = run_cases(names, args.timeout, args.verbose, args.engine)
    counts = collections.Counter(r.outcome for r in results)
    print(f"{len(results)} cases: " + ", ".join(f"{counts[o]} {o}" for o in OUTCOMES
                                                 if counts[o]))
    for r in results:
        if r.outcome == "wrong":
            print(f"WRONG {r.name}: {r.detail}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([dataclasses.asdict(r) for r in results], f, indent=1)
    return 1 if counts["wrong"] else 0



def first_difference(name: str) -> str:
    """For a ``wrong`` case: the first node (in graph order) whose output differs from ONNX's
    reference evaluator, found by exposing every intermediate value as a graph output."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    import edgec

    case = all_cases()[name]
    model = onnx.shape_inference.infer_shapes(case.model)
    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [i.name for i in model.graph.input if i.name not in initializers]
    feeds = dict(zip(graph_inputs, _arrays(case.data_sets[0][0])))
    known = {v.name: v for v in model.graph.value_info}
    existing = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for out in node.output:
            if out and out in known and out not in existing:
                model.graph.output.append(known[out])
    reference = ReferenceEvaluator(model)
    names = [o.name for o in model.graph.output]
    want = dict(zip(names, reference.run(None, feeds)))
    artifact = edgec.compile(model, "host", tuning_logs=False,
                             input_shapes={k: v.shape for k, v in feeds.items() if v.ndim})
    got = artifact.run(feeds)
    for node in model.graph.node:
        for out in node.output:
            if out in want:
                problem = _difference(got.get(out), np.asarray(want[out]), case.rtol, case.atol)
                if problem:
                    inputs = {i: (want.get(i, feeds.get(i)) if i else None) for i in node.input}
                    return (f"{node.op_type} '{node.name}' -> {out}: {problem}\n"
                            f"  inputs: {inputs}\n  want: {want[out]}\n  got: {got.get(out)}")
    return "no intermediate differs"


if __name__ == "__main__":
    sys.exit(main())
