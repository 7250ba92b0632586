"""Emulated boards: a Debian userland of the board's architecture, the TVM runtime for it, and
qemu user mode to run edgec inside it.

``edgec emulator setup BOARD`` provisions once per Debian architecture and TVM version, under
edgec's cache directory (see ``cache.py``), only from Debian's and PyPI's packages:

- the Debian packages of Python 3.11 and its libraries for that architecture, unpacked into a
  sysroot (``debian.py``);
- the TVM runtime: PyPI's wheels where they exist for the architecture (arm64), or TVM's
  runtime cross-compiled from the sources its PyPI wheel ships (armhf, ``cross_runtime.py``).

A ``stamp.json`` written last marks a finished provision; an interrupted one is redone.
``run_edgec`` then runs ``edgec ARGS`` on the emulated board: the interpreter is the board's
Python under ``qemu-<arch> -cpu <board cpu>``, TVM in runtime-only mode, edgec's own sources
staged from this installation.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from edgec.device import debian
from edgec.device.cache import cache_dir
from edgec.errors import TargetError, ToolchainError
from edgec.targets.board import Board

logger = logging.getLogger(__name__)

PYTHON = "python3.11"
_ROOT_PACKAGES = ["python3.11-minimal", "libpython3.11-stdlib", "libstdc++6", "libgcc-s1"]
# numpy and psutil have native code: Debian builds them for the architecture. Pure-Python
# packages come from PyPI (Debian's typing-extensions is too old for tvm-ffi).
_SOURCE_RUNTIME_PACKAGES = ["python3-numpy", "python3-psutil", "libpython3.11-dev"]
# Pulled in by the closure but never needed to run Python programs.
_EXCLUDE = {"dpkg", "install-info", "perl", "perl-base", "perl-modules-5.36", "libperl5.36",
            "mailcap", "mime-support", "tar", "debconf", "media-types", "libgdbm-compat4",
            # C development files (the cross toolchain has its own) and alternative BLAS
            # builds (the reference libblas3/liblapack3 serve numpy).
            "libc6-dev", "linux-libc-dev", "libcrypt-dev", "libnsl-dev", "libtirpc-dev",
            "zlib1g-dev", "libexpat1-dev", "rpcsvc-proto", "libc-dev-bin", "libopenblas0-openmp",
            "libopenblas0-pthread", "libopenblas0-serial", "libopenblas0", "libblis4-openmp",
            "libblis4-pthread", "libblis4-serial", "libatlas3-base", "libgomp1"}
_STAMP = "stamp.json"


def _versions() -> dict[str, str]:
    return {dist: importlib.metadata.version(dist) for dist in ("apache-tvm", "apache-tvm-ffi")}


@dataclasses.dataclass(frozen=True)
class EmulatorEnv:
    """A provisioned userland for one Debian architecture."""

    board: Board
    root: Path

    @property
    def sysroot(self) -> Path:
        return self.root / "sysroot"

    @property
    def site_packages(self) -> Path:
        return self.root / "site-packages"

    @property
    def stamp(self) -> Path:
        return self.root / _STAMP

    def is_ready(self) -> bool:
        try:
            stamp = json.loads(self.stamp.read_text())
        except (OSError, ValueError):
            return False
        return stamp.get("versions") == _versions()


def emulator_env(board: Board) -> EmulatorEnv:
    if board.kind == "mcu":
        raise TargetError(f"board '{board.name}' is a microcontroller: its artifacts run as "
                          "firmware in qemu-system-arm (edgec run ARTIFACT --device emulate), "
                          "not under an emulated Linux; `edgec emulator setup "
                          f"{board.name}` checks the tools it needs")
    if board.emulator is None:
        raise TargetError(f"board '{board.name}' has no emulator ({board.arch}); run its "
                          "artifacts on the device, over RPC, or on this machine if it is one")
    emu = board.emulator
    key = f"{emu.debian_arch}-{emu.python_runtime}-tvm{_versions()['apache-tvm']}"
    return EmulatorEnv(board=board, root=cache_dir() / "emulators" / key)


def require_qemu(board: Board) -> str:
    emu = board.emulator
    path = shutil.which(emu.qemu)
    if path is None:
        raise ToolchainError(f"emulating '{board.name}' needs '{emu.qemu}', which is not "
                             f"installed (Debian/Ubuntu: sudo apt-get install {emu.package})")
    return path


def provision(board: Board, force: bool = False) -> EmulatorEnv:
    """Set up (or reuse) the emulated userland for ``board``."""
    env = emulator_env(board)
    require_qemu(board)
    if env.is_ready() and not force:
        logger.info("emulator for %s already set up in %s", board.name, env.root)
        return env
    start = time.time()
    if env.root.exists():
        shutil.rmtree(env.root)
    env.root.mkdir(parents=True)
    emu = board.emulator
    apt = debian.ForeignApt(env.root / "apt", emu.debian_arch)
    logger.info("fetching Debian %s package lists", emu.debian_arch)
    apt.update()
    roots = list(_ROOT_PACKAGES)
    if emu.python_runtime == "source":
        roots += _SOURCE_RUNTIME_PACKAGES
    packages = apt.closure(roots, exclude=_EXCLUDE)
    logger.info("downloading %d Debian %s packages", len(packages), emu.debian_arch)
    debs = apt.download(packages, env.root / "debs")
    debian.extract(debs, env.sysroot)
    debian.link_alternatives(env.sysroot)
    if emu.python_runtime == "wheels":
        from edgec.device.wheels import install_wheels

        python_packages = install_wheels(emu.debian_arch, env.root / "wheels", env.site_packages)
    else:
        from edgec.device.cross_runtime import build_runtime
        from edgec.device.wheels import install_pure_wheels

        python_packages = install_pure_wheels(env.root / "wheels", env.site_packages)
        python_packages += build_runtime(board, env)
    shutil.rmtree(env.root / "debs", ignore_errors=True)
    shutil.rmtree(env.root / "wheels", ignore_errors=True)
    stamp = {"board": board.name, "debian_arch": emu.debian_arch,
             "python_runtime": emu.python_runtime, "versions": _versions(),
             "debian_packages": packages, "python_packages": python_packages,
             "seconds": round(time.time() - start, 1)}
    tmp = env.stamp.with_suffix(".tmp")
    tmp.write_text(json.dumps(stamp, indent=2))
    os.replace(tmp, env.stamp)
    return env


def _stage_edgec(dest: Path) -> Path:
    """Copy this installation's edgec sources (with edgec.passes, edgec.targets) into ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    top = Path(importlib.util.find_spec("edgec").submodule_search_locations[0])
    shutil.copytree(top, dest / "edgec", ignore=ignore)
    for sub in ("passes", "targets"):
        spec = importlib.util.find_spec(f"edgec.{sub}")
        src = Path(list(spec.submodule_search_locations)[0])
        target = dest / "edgec" / sub
        if src.resolve() != target.resolve() and not target.exists():
            shutil.copytree(src, target, ignore=ignore)
    return dest


def _ready_env(board: Board) -> tuple[EmulatorEnv, str]:
    env_dir = emulator_env(board)
    qemu = require_qemu(board)
    if not env_dir.is_ready():
        raise TargetError(f"the emulator for '{board.name}' is not set up (or was set up for "
                          f"another TVM version); run: edgec emulator setup {board.name}")
    return env_dir, qemu


def _command(board: Board, env_dir: EmulatorEnv, qemu: str, args: list[str]) -> list[str]:
    return [qemu, "-L", str(env_dir.sysroot), "-cpu", board.emulator.cpu,
            str(env_dir.sysroot / "usr" / "bin" / PYTHON), "-m", "edgec", *args]


def run_edgec(board: Board, args: list[str], *, timeout: float | None = None,
              capture: bool = True, extra_env: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess:
    """Run ``edgec ARGS`` on the emulated ``board``; returns the finished process."""
    env_dir, qemu = _ready_env(board)
    with tempfile.TemporaryDirectory(prefix="edgec-emu-src-") as staging:
        _stage_edgec(Path(staging))
        logger.info("emulating %s: edgec %s", board.name, " ".join(args))
        return subprocess.run(_command(board, env_dir, qemu, args),
                              env=_emulated_environment(env_dir, staging, extra_env),
                              capture_output=capture, text=True, timeout=timeout)


def popen_edgec(board: Board, args: list[str], staging: Path, **kwargs) -> subprocess.Popen:
    """Start ``edgec ARGS`` on the emulated board in the background (e.g. ``serve``);
    ``staging`` must outlive the process."""
    env_dir, qemu = _ready_env(board)
    _stage_edgec(staging)
    return subprocess.Popen(_command(board, env_dir, qemu, args),
                            env=_emulated_environment(env_dir, str(staging), None), **kwargs)


def _emulated_environment(env_dir: EmulatorEnv, staging: str,
                          extra: dict[str, str] | None) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "TERM", "TVM_NUM_THREADS", "EDGEC_CACHE_DIR")
    environment = {k: v for k, v in os.environ.items() if k in keep}
    dist_packages = env_dir.sysroot / "usr" / "lib" / "python3" / "dist-packages"
    environment.update({
        "PYTHONPATH": os.pathsep.join([staging, str(env_dir.site_packages), str(dist_packages)]),
        "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
        # Do not put the working directory first on sys.path: an edgec source tree there
        # would shadow the staged package.
        "PYTHONSAFEPATH": "1",
        "TVM_USE_RUNTIME_LIB": "1", "QEMU_LD_PREFIX": str(env_dir.sysroot),
        "EDGEC_EMULATED": env_dir.board.name,
    })
    environment.update(extra or {})
    return environment
