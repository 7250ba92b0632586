"""TVM's runtime for an architecture PyPI has no wheels for (32-bit ARM), cross-compiled.

Sources come from the tvm and tvm-ffi packages installed here (their PyPI wheels ship the
runtime and ffi sources); the few support headers TVM's wheel leaves out are edgec's own
(``runtime_support/include``). Built with the board's cross compiler against the Debian
Python headers of the emulated userland:

1. ``libtvm_ffi.so`` and ``libtvm_ffi_testing.so``;
2. tvm-ffi's Python extension (``core.pyx`` through Cython), with its object header padded to
   16 bytes on 32-bit targets (tvm-ffi assumes 64-bit pointers there);
3. ``libtvm_runtime.so``: the CPU runtime, the Relax VM and the RPC server side;
4. the pure-Python ``tvm`` and ``tvm_ffi`` packages around them, in ``site-packages``.
"""

from __future__ import annotations

import concurrent.futures
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from edgec.errors import ToolchainError
from edgec.targets.board import Board

logger = logging.getLogger(__name__)

SUPPORT_INCLUDE = Path(__file__).parent / "runtime_support" / "include"
MULTIARCH = {"armhf": "arm-linux-gnueabihf", "arm64": "aarch64-linux-gnu"}

_FFI_SKIP = {"backtrace_win.cc"}
# The runtime sources a CPU device needs: tensors, modules, threads, the Relax VM (with its KV
# cache builtins) and the RPC server side. Left out: GPU/accelerator back ends (extra/, vm/cuda,
# vm/hexagon are in sub-directories not globbed), minimal RPC and popen pipes.
_RUNTIME_DIRS = ("", "vm", "rpc", "memory")
_RUNTIME_SKIP = {"rpc/rpc_pipe_impl.cc"}
_CXXFLAGS = ["-std=c++17", "-O2", "-fPIC", "-Wno-psabi", "-DNDEBUG"]
# tvm-ffi's Python object header must be 16 bytes; on 32-bit targets two pointers are 8.
_PY_HEADER_ANCHOR = "struct PyCustomAllocHeader {\n  PyObject* tagged_pyobj;"
_PY_HEADER_PATCH = ("struct PyCustomAllocHeader {\n#if UINTPTR_MAX == 0xFFFFFFFFu\n"
                    "  char edgec_pad32[16 - sizeof(PyObject*) - sizeof(TVMFFIObjectAllocHeader)];\n"
                    "#endif\n  PyObject* tagged_pyobj;")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ToolchainError(f"the '{name}' package is not installed here")
    return Path(list(spec.submodule_search_locations)[0])


class _Builder:
    def __init__(self, compiler: str, build: Path):
        self.compiler = compiler
        self.build = build
        self.jobs = max(1, os.cpu_count() or 1)

    def run(self, args: list[str], what: str) -> None:
        result = subprocess.run([self.compiler, *args], capture_output=True, text=True)
        if result.returncode != 0:
            errors = [l for l in result.stderr.splitlines() if "error" in l]
            raise ToolchainError(f"cross-compiling the TVM runtime failed at {what}: "
                                 f"{'; '.join(errors[:3]) or result.stderr[-500:]}")

    def objects(self, sources: list[Path], flags: list[str], out_dir: Path, root: Path) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        jobs = []
        for src in sources:
            obj = out_dir / (str(src.relative_to(root)).replace("/", "_") + ".o")
            jobs.append((src, obj))
        with concurrent.futures.ThreadPoolExecutor(self.jobs) as pool:
            futures = [pool.submit(self.run, [*_CXXFLAGS, *flags, "-c", str(src), "-o", str(obj)],
                                   src.name) for src, obj in jobs if not obj.exists()]
            for future in futures:
                future.result()
        return [obj for _, obj in jobs]


def build_runtime(board: Board, env) -> list[str]:
    """Build and install the runtime into ``env.site_packages``; returns what was built."""
    from edgec.build.codegen import find_compiler

    compiler = find_compiler(board.toolchain, board.name)
    triplet = MULTIARCH[board.emulator.debian_arch]
    ffi, tvm_dir = _package_dir("tvm_ffi"), _package_dir("tvm")
    build = env.root / "build"
    builder = _Builder(compiler, build)
    lib = build / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    dlpack = ffi / "3rdparty" / "dlpack" / "include"

    # 1. tvm-ffi's C++ library.
    logger.info("cross-compiling tvm-ffi for %s", triplet)
    ffi_sources = sorted(p for p in (ffi / "src" / "ffi").glob("*.cc") if p.name not in _FFI_SKIP)
    ffi_sources += sorted((ffi / "src" / "ffi" / "extra").glob("*.cc"))
    ffi_flags = ["-fvisibility=hidden", "-DTVM_FFI_USE_LIBBACKTRACE=0",
                 "-DTVM_FFI_BACKTRACE_ON_SEGFAULT=0", f"-I{ffi / 'include'}", f"-I{dlpack}"]
    objs = builder.objects(ffi_sources, ffi_flags, build / "ffi", ffi / "src")
    builder.run(["-shared", "-o", str(lib / "libtvm_ffi.so"), *map(str, objs), "-lpthread",
                 "-ldl"], "libtvm_ffi.so")
    builder.run([*_CXXFLAGS, "-DTVM_FFI_DLL_EXPORT_INCLUDE_METADATA=1", f"-I{ffi / 'include'}",
                 f"-I{dlpack}", "-shared", str(ffi / "src" / "ffi" / "testing" / "testing.cc"),
                 "-o", str(lib / "libtvm_ffi_testing.so"), f"-L{lib}", "-ltvm_ffi",
                 "-Wl,-rpath,$ORIGIN"], "libtvm_ffi_testing.so")

    # 2. tvm-ffi's Python extension.
    core = _build_core(builder, ffi, env.sysroot, triplet, lib, dlpack)

    # 3. TVM's runtime.
    logger.info("cross-compiling the TVM runtime for %s", triplet)
    src_copy = build / "tvm-src"
    if src_copy.exists():
        shutil.rmtree(src_copy)
    shutil.copytree(tvm_dir / "src", src_copy / "src")
    shutil.copytree(SUPPORT_INCLUDE / "src_support", src_copy / "src" / "support",
                    dirs_exist_ok=True)
    runtime_root = src_copy / "src" / "runtime"
    sources = []
    for sub in _RUNTIME_DIRS:
        for path in sorted((runtime_root / sub).glob("*.cc")):
            if str(path.relative_to(runtime_root)) not in _RUNTIME_SKIP:
                sources.append(path)
    rt_flags = [f"-I{SUPPORT_INCLUDE}", f"-I{tvm_dir / 'include'}", f"-I{ffi / 'include'}",
                f"-I{dlpack}", f"-I{src_copy / 'src'}"]
    objs = builder.objects(sources, rt_flags, build / "runtime", runtime_root)
    builder.run(["-shared", "-o", str(lib / "libtvm_runtime.so"), *map(str, objs), f"-L{lib}",
                 "-ltvm_ffi", "-lpthread", "-ldl", "-Wl,-rpath,$ORIGIN:$ORIGIN/../../tvm_ffi/lib"],
                "libtvm_runtime.so")

    # 4. The Python packages around the libraries.
    site = env.site_packages
    _copy_python(ffi, site / "tvm_ffi")
    (site / "tvm_ffi" / "lib").mkdir(parents=True, exist_ok=True)
    for name in ("libtvm_ffi.so", "libtvm_ffi_testing.so"):
        shutil.copy2(lib / name, site / "tvm_ffi" / "lib" / name)
    shutil.copy2(core, site / "tvm_ffi" / core.name)
    _copy_python(tvm_dir, site / "tvm")
    (site / "tvm" / "lib").mkdir(parents=True, exist_ok=True)
    shutil.copy2(lib / "libtvm_runtime.so", site / "tvm" / "lib" / "libtvm_runtime.so")
    shutil.rmtree(build, ignore_errors=True)
    versions = {d: importlib.metadata.version(d) for d in ("apache-tvm", "apache-tvm-ffi")}
    return [f"apache-tvm-ffi {versions['apache-tvm-ffi']} (cross-compiled)",
            f"apache-tvm {versions['apache-tvm']} runtime (cross-compiled)"]


def _build_core(builder: _Builder, ffi: Path, sysroot: Path, triplet: str, lib: Path,
                dlpack: Path) -> Path:
    try:
        import Cython  # noqa: F401
    except ImportError as err:
        raise ToolchainError("emulating 32-bit ARM boards builds tvm-ffi's Python extension with "
                             "Cython; install it: pip install 'edgec[emulate]'") from err
    build = builder.build
    include = build / "ffi-include"
    if include.exists():
        shutil.rmtree(include)
    shutil.copytree(ffi / "include", include)
    header = include / "tvm_ffi_python_object.h"
    text = header.read_text()
    if _PY_HEADER_ANCHOR not in text:
        raise ToolchainError("this tvm-ffi version changed its Python object header; edgec's "
                             "32-bit patch does not apply (update edgec/device/cross_runtime.py)")
    header.write_text(text.replace(_PY_HEADER_ANCHOR, _PY_HEADER_PATCH))
    cython_dir = build / "cython"
    if cython_dir.exists():
        shutil.rmtree(cython_dir)
    shutil.copytree(ffi / "cython", cython_dir)
    core_cpp = build / "core.cpp"
    result = subprocess.run([sys.executable, "-m", "cython", "--cplus", "core.pyx", "-o",
                             str(core_cpp), "--module-name", "tvm_ffi.core"], cwd=cython_dir,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolchainError(f"Cython failed on tvm-ffi's core.pyx: {result.stderr[-500:]}")
    python_include = sysroot / "usr" / "include" / "python3.11"
    if not (python_include / "Python.h").is_file():
        raise ToolchainError(f"the emulated userland has no Python headers ({python_include})")
    core = build / f"core.cpython-311-{triplet}.so"
    logger.info("cross-compiling tvm-ffi's Python extension")
    builder.run([*_CXXFLAGS, "-shared", f"-I{include}", f"-I{dlpack}", f"-I{python_include}",
                 f"-I{sysroot / 'usr' / 'include'}", str(core_cpp), "-o", str(core), f"-L{lib}",
                 "-ltvm_ffi", "-ltvm_ffi_testing", "-Wl,-rpath,$ORIGIN/lib"], "core.pyx")
    return core


def _copy_python(package: Path, dest: Path) -> None:
    """The pure-Python files of an installed package (no native libraries or sources)."""
    skip_dirs = {"__pycache__", "lib", "src", "include", "3rdparty", "cython", "cmake", "share"}
    for path in package.rglob("*.py*"):
        rel = path.relative_to(package)
        if path.suffix not in (".py", ".pyi") or skip_dirs & set(rel.parts[:-1]):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
