"""edgec: compile trained ONNX models into verified artifacts for edge devices, on Apache TVM.

>>> import edgec
>>> art = edgec.compile("model.onnx", target="host", input_shapes={"x": (1, 3, 224, 224)})
>>> art.save("model.edgec.tar")
>>> outputs = edgec.load("model.edgec.tar").run({"x": image})

Loading and running use only TVM's runtime; the compiler is imported when ``compile`` is called.
"""

from __future__ import annotations

from edgec.artifact import Artifact, load
from edgec.errors import EdgecError

__version__ = "0.1.0"

__all__ = ["Artifact", "EdgecError", "compile", "load", "__version__"]


def compile(model, target="host", **kwargs) -> Artifact:  # noqa: A001
    """Compile ``model`` for ``target``; see :func:`edgec.interface.compile.compile`."""
    from edgec.interface.compile import compile as _compile

    return _compile(model, target, **kwargs)
