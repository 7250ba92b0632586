"""edgec: compile trained ONNX models into verified artifacts for edge devices, on Apache TVM.

>>> import edgec
>>> art = edgec.compile("model.onnx", target="host", input_shapes={"x": (1, 3, 224, 224)})
>>> art.save("model.edgec.tar")
>>> outputs = edgec.load("model.edgec.tar").run({"x": image})

Loading and running use only TVM's runtime; the compiler is imported when ``compile`` is called.
"""

from __future__ import annotations

import sys


def _import_tvm_without_torch() -> None:
    """Import TVM without the PyTorch import its FFI package makes first thing when torch is
    installed (a workaround for a Windows symbol clash; 1.3 s on every edgec process, CLI and
    tuning workers included). A process that already imported torch is left as it is."""
    if "tvm" in sys.modules or "torch" in sys.modules:
        return

    class _NoTorch:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is not needed to import TVM")
            return None

    blocker = _NoTorch()
    sys.meta_path.insert(0, blocker)
    try:
        import tvm  # noqa: F401
    finally:
        sys.meta_path.remove(blocker)


_import_tvm_without_torch()

from edgec.artifact import Artifact, load  # noqa: E402
from edgec.errors import EdgecError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Artifact", "EdgecError", "compile", "load", "__version__"]


def compile(model, target="host", **kwargs) -> Artifact:  # noqa: A001
    """Compile ``model`` for ``target``; see :func:`edgec.interface.compile.compile`."""
    from edgec.interface.compile import compile as _compile

    return _compile(model, target, **kwargs)
