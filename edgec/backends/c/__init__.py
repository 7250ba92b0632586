"""The C back end: a Relax module after the pass pipeline (``backend="c"``) becomes ``model.c``
(kernels, weights as ``const`` data, a driver) and ``model.h`` (the arena size and one run
function), needing no TVM runtime, no heap and no C++.

- ``program``  the Relax ``main`` as a list of kernel calls over typed tensors;
- ``arena``    where each intermediate tensor lives in the one arena (lifetime-aware);
- ``kernels``  TVM's ``c`` code generation of the kernels, made self-contained;
- ``emit``     the C files;
- ``build``    all of it, and the reference build that measures flash and RAM.
"""
