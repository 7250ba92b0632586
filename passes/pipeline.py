"""The pass pipeline: one ordered list, built from the board's data and an optimization level.

Phases, in order (a progress marker is logged between them):

1. ``graph``    graph-level rewrites on Relax ops: inference decomposition (batch norm into
                arithmetic), binding canonicalisation, constant folding, dead code removal.
2. ``lower``    ops legalized to TIR kernels; at -O1 and above TVM fuses them (FuseOps/FuseTIR).
3. ``finalize`` Relax VM lowering: static memory planning, explicit allocation, shape lowering.

Levels: ``-O0`` only what TVM needs to produce code (no folding, no fusion); ``-O1`` adds TVM's
folding and fusion; ``-O2`` and ``-O3`` add edgec's own rewrites as they land (affine folding,
activation recognition, layout transforms at -O3). Every pass has a name; a pass that is not
``required`` can be turned off by name (``--disable-pass``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tvm
from tvm import relax

from edgec.errors import OptionError

PHASES = ("graph", "lower", "finalize")


@dataclasses.dataclass(frozen=True)
class PipelineOptions:
    opt_level: int = 3
    disabled_passes: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True)
class PassEntry:
    """One pass in the pipeline; ``make`` builds it fresh for each run."""

    name: str
    phase: str
    make: Callable[[], tvm.transform.Pass]
    min_opt_level: int = 0
    required: bool = False


def _tvm(name: str, make: Callable[[], tvm.transform.Pass], phase: str,
         min_opt_level: int = 0, required: bool = False) -> PassEntry:
    return PassEntry(name=name, phase=phase, make=make, min_opt_level=min_opt_level,
                     required=required)


def _all_passes() -> list[PassEntry]:
    t = relax.transform
    return [
        # -- graph ---------------------------------------------------------------------------
        _tvm("DecomposeOpsForInference", t.DecomposeOpsForInference, "graph", required=True),
        _tvm("CanonicalizeBindings", t.CanonicalizeBindings, "graph", 1),
        _tvm("FoldConstant", t.FoldConstant, "graph", 1),
        _tvm("DeadCodeElimination", t.DeadCodeElimination, "graph", 1),
        # -- lower ---------------------------------------------------------------------------
        _tvm("DispatchSampling", relax.backend.DispatchSampling, "lower", required=True),
        _tvm("DispatchSortScan", relax.backend.DispatchSortScan, "lower", required=True),
        _tvm("LegalizeOps", t.LegalizeOps, "lower", required=True),
        _tvm("AnnotateTIROpPattern", t.AnnotateTIROpPattern, "lower", 1),
        _tvm("FoldConstantTIR", t.FoldConstant, "lower", 1),
        _tvm("FuseOps", t.FuseOps, "lower", 1),
        _tvm("FuseTIR", t.FuseTIR, "lower", 1),
        # -- finalize (Relax VM lowering) ----------------------------------------------------
        _tvm("RewriteDataflowReshape", t.RewriteDataflowReshape, "finalize", required=True),
        _tvm("ToNonDataflow", t.ToNonDataflow, "finalize", required=True),
        _tvm("RemovePurityChecking", t.RemovePurityChecking, "finalize", required=True),
        _tvm("CallTIRRewrite", t.CallTIRRewrite, "finalize", required=True),
        _tvm("StaticPlanBlockMemory", t.StaticPlanBlockMemory, "finalize", required=True),
        _tvm("LowerAllocTensor", t.LowerAllocTensor, "finalize", required=True),
        _tvm("KillAfterLastUse", t.KillAfterLastUse, "finalize", required=True),
        _tvm("LowerRuntimeBuiltin", t.LowerRuntimeBuiltin, "finalize", required=True),
        _tvm("ComputePrimValue", t.ComputePrimValue, "finalize", required=True),
        _tvm("VMShapeLower", t.VMShapeLower, "finalize", required=True),
        _tvm("AttachGlobalSymbol", t.AttachGlobalSymbol, "finalize", required=True),
    ]


def pass_names() -> list[str]:
    return [p.name for p in _all_passes()]


def build_pipeline(options: PipelineOptions) -> list[PassEntry]:
    """The ordered passes for ``options``; unknown or required pass names are errors."""
    if not 0 <= options.opt_level <= 3:
        raise OptionError(f"optimization level -O{options.opt_level} does not exist; use -O0..-O3")
    entries = _all_passes()
    by_name = {e.name: e for e in entries}
    for name in sorted(options.disabled_passes):
        if name not in by_name:
            raise OptionError(f"--disable-pass {name}: no such pass; passes are "
                             f"{', '.join(e.name for e in entries if not e.required)}")
        if by_name[name].required:
            raise OptionError(f"--disable-pass {name}: this pass is required to produce code "
                             "and cannot be turned off")
    return [e for e in entries
            if e.min_opt_level <= options.opt_level and e.name not in options.disabled_passes]
