"""Python packages for an emulated board from PyPI wheels built for its architecture.

The TVM and tvm-ffi wheels are pinned to the versions installed here (an artifact must be run by
the runtime of the TVM that built it); only the runtime part of TVM is unpacked.
"""

from __future__ import annotations

import importlib.metadata
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

from edgec.errors import ToolchainError

logger = logging.getLogger(__name__)

WHEEL_PLATFORMS = {"arm64": "manylinux_2_28_aarch64"}
# Parts of the TVM wheel a device does not need (the compiler alone is ~240 MB).
_SKIP_PREFIXES = ("tvm/lib/libtvm_compiler", "tvm/3rdparty/", "tvm/src/", "tvm/include/",
                  "tvm_ffi/include/", "tvm_ffi/src/", "tvm_ffi/3rdparty/", "tvm_ffi/cython/")


def pinned_requirements() -> list[str]:
    """The runtime packages, pinned to this machine's versions where it matters."""
    def version(dist: str) -> str:
        return importlib.metadata.version(dist)

    return [f"apache-tvm=={version('apache-tvm')}", f"apache-tvm-ffi=={version('apache-tvm-ffi')}",
            f"numpy=={version('numpy')}", "ml_dtypes", "typing_extensions", "psutil",
            "cloudpickle"]


PURE_PYTHON = ["typing_extensions", "cloudpickle"]


def install_pure_wheels(download_dir: Path, site_packages: Path) -> list[str]:
    """The pure-Python dependencies of TVM's runtime and RPC server, from PyPI."""
    return _download_and_unpack(["--only-binary=:all:", "--no-deps", *PURE_PYTHON],
                                download_dir, site_packages, "pure-Python")


def _download_and_unpack(args: list[str], download_dir: Path, site_packages: Path,
                         what: str) -> list[str]:
    download_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "-d", str(download_dir), *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [l for l in result.stderr.splitlines() if "ERROR" in l] or \
            result.stderr.strip().splitlines()[-2:]
        raise ToolchainError(f"downloading the {what} wheels failed: {' '.join(lines)}")
    site_packages.mkdir(parents=True, exist_ok=True)
    installed = []
    for wheel in sorted(download_dir.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if not member.startswith(_SKIP_PREFIXES):
                    archive.extract(member, site_packages)
        installed.append(wheel.name)
        logger.info("unpacked %s", wheel.name)
    return installed


def install_wheels(debian_arch: str, download_dir: Path, site_packages: Path,
                   python_version: str = "3.11") -> list[str]:
    """Download the wheels for ``debian_arch`` and unpack them into ``site_packages``."""
    platform = WHEEL_PLATFORMS.get(debian_arch)
    if platform is None:
        raise ToolchainError(f"PyPI has no TVM wheels for Debian architecture {debian_arch}")
    tag = python_version.replace(".", "")
    args = ["--no-deps", "--only-binary=:all:", "--platform", platform, "--python-version",
            python_version, "--implementation", "cp", "--abi", f"cp{tag}", "--abi", "abi3",
            "--abi", "none", *pinned_requirements()]
    return _download_and_unpack(args, download_dir, site_packages, debian_arch)
