"""Debian packages of another architecture, fetched without root and without touching the
system's package state.

apt runs with its own state, cache and source list under edgec's cache directory
(``APT::Architecture`` set to the foreign one), reusing the machine's configured mirrors and
keyrings. Packages are unpacked with ``dpkg-deb -x``; nothing is installed.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from edgec.errors import ToolchainError

logger = logging.getLogger(__name__)

_SYSTEM_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
_UBUNTU_PORTS = "http://ports.ubuntu.com/ubuntu-ports"


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolchainError(f"'{tool}' is needed to fetch the emulated board's packages and is "
                             f"not installed (package {package}); emulation works on Debian/Ubuntu "
                             "machines and in the edgec Docker image")
    return path


class ForeignApt:
    """apt for ``arch`` (a Debian architecture such as arm64 or armhf) in ``root``."""

    def __init__(self, root: Path, arch: str):
        self.root = Path(root)
        self.arch = arch
        self._apt_get = _need("apt-get", "apt")
        self._apt_cache = _need("apt-cache", "apt")

    def _options(self) -> list[str]:
        r = self.root
        options = {
            "Dir::State": r / "state", "Dir::State::status": r / "status",
            "Dir::Cache": r / "cache", "Dir::Etc::sourcelist": r / "sources" / "none.list",
            "Dir::Etc::sourceparts": r / "sources", "APT::Architecture": self.arch,
            "APT::Architectures::": self.arch, "Debug::NoLocking": "1",
            "Acquire::Languages": "none",
        }
        if os.geteuid() == 0:
            options["APT::Sandbox::User"] = "root"
        return [arg for key, value in options.items() for arg in ("-o", f"{key}={value}")]

    def _run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        cmd = [tool, *self._options(), *args]
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        if result.returncode != 0:
            tail = " ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
            raise ToolchainError(f"fetching {self.arch} packages failed ({' '.join(args[:2])}): "
                                 f"{tail}")
        return result.stdout

    def update(self) -> None:
        for sub in ("state/lists/partial", "cache/archives/partial", "sources"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "status").touch()
        self._write_sources()
        for attempt in range(2):
            try:
                self._run(self._apt_get, "-qq", "update")
                return
            except ToolchainError as err:
                failure = err
        # A mirror in mid-sync can fail one index (often the security suite's); the others
        # still describe packages that exist in the pool, so carry on if any index arrived.
        lists = self.root / "state" / "lists"
        if any(lists.glob(f"*binary-{self.arch}_Packages*")):
            logger.warning("some %s package indexes could not be fetched; using the others (%s)",
                           self.arch, failure)
            return
        raise failure

    def _write_sources(self) -> None:
        dest = self.root / "sources"
        for old in dest.iterdir():
            old.unlink()
        ubuntu = _is_ubuntu()
        files: list[Path] = []
        if _SYSTEM_SOURCES[0].is_file():
            files.append(_SYSTEM_SOURCES[0])
        if _SYSTEM_SOURCES[1].is_dir():
            files += sorted(p for p in _SYSTEM_SOURCES[1].iterdir()
                            if p.suffix in (".list", ".sources"))
        if not files:
            raise ToolchainError("no apt sources are configured on this machine "
                                 "(/etc/apt/sources.list*); cannot fetch packages")
        for index, path in enumerate(files):
            text = path.read_text(encoding="utf-8", errors="replace")
            if ubuntu:  # Ubuntu serves non-x86 architectures from the ports archive
                for host in ("http://archive.ubuntu.com/ubuntu", "http://security.ubuntu.com/ubuntu"):
                    text = text.replace(host + "/", _UBUNTU_PORTS + "/").replace(host, _UBUNTU_PORTS)
            (dest / f"{index:02d}-{path.name}").write_text(text, encoding="utf-8")
        (dest / "none.list").write_text("", encoding="utf-8")

    def closure(self, roots: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
        """``roots`` and everything they depend on (recursively), minus ``exclude``."""
        out = self._run(self._apt_cache, "depends", "--recurse", "--no-recommends",
                        "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces",
                        "--no-enhances", *roots)
        names = {line.strip() for line in out.splitlines()
                 if line and not line.startswith((" ", "<"))}
        return sorted(names - set(exclude))

    def download(self, packages: list[str], dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        self._run(self._apt_get, "-qq", "download", *packages, cwd=dest)
        return sorted(dest.glob("*.deb"))


def extract(debs: Iterable[Path], root: Path) -> None:
    """Unpack each .deb's files into ``root`` (no maintainer scripts run)."""
    dpkg_deb = _need("dpkg-deb", "dpkg")
    root.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        result = subprocess.run([dpkg_deb, "-x", str(deb), str(root)], capture_output=True,
                                text=True)
        if result.returncode != 0:
            raise ToolchainError(f"unpacking {deb.name} failed: {result.stderr.strip()}")


def link_alternatives(root: Path) -> None:
    """Create the library links dpkg's alternatives system would (libblas.so.3 and
    liblapack.so.3 live in blas/ and lapack/ sub-directories of the multiarch dir)."""
    for libdir in (root / "usr" / "lib").glob("*-linux-gnu*"):
        for sub in ("blas", "lapack"):
            for lib in (libdir / sub).glob("*.so.*"):
                link = libdir / lib.name
                if not link.exists():
                    link.symlink_to(Path(sub) / lib.name)


def _is_ubuntu() -> bool:
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8")
    except OSError:
        return False
    return any(line.strip() in ("ID=ubuntu", 'ID="ubuntu"') for line in text.splitlines())
