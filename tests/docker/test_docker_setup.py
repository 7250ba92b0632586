"""The Docker image installs through scripts/setup.sh, the same script this machine's set-up
(and CI) runs; these tests hold the two together. No Docker engine runs here, so what the image
would do is tested natively: the packages setup.sh installs are present and the cross builds,
emulators and RPC the image offers are tested elsewhere in this suite against them."""

from __future__ import annotations

import re
import shutil
import subprocess

from tests.conftest import REPO

DOCKERFILE = REPO / "docker" / "Dockerfile"
SETUP = REPO / "scripts" / "setup.sh"


def _apt_packages() -> list[str]:
    out = subprocess.run(["bash", "-c", f'eval "$(sed -n "/^APT_PACKAGES=(/,/)/p" {SETUP})"; '
                          'echo "${APT_PACKAGES[@]}"'], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_image_installs_through_setup_script():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM debian:bookworm", text, re.M)
    assert "COPY . /opt/edgec" in text
    assert re.search(r"RUN .*\./scripts/setup\.sh", text)
    # The only package the image installs itself is the Python that runs setup.sh.
    installs = [[w for w in args.split() if not w.startswith("-")]
                for args in re.findall(r"apt-get install([^\\&\n]*)", text)]
    assert installs == [["python3"]]


def test_setup_script_packages_are_installed_here():
    packages = _apt_packages()
    assert {"g++-aarch64-linux-gnu", "g++-arm-linux-gnueabihf", "qemu-user"} <= set(packages)
    missing = [p for p in packages if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
    ).stdout != "install ok installed"]
    assert not missing, f"scripts/setup.sh packages not installed: {missing}"
    for tool in ("aarch64-linux-gnu-g++", "arm-linux-gnueabihf-g++", "qemu-aarch64", "qemu-arm"):
        assert shutil.which(tool), tool


def test_helper_scripts_parse():
    for script in (REPO / "docker" / "edgec-docker.sh", SETUP, REPO / "scripts" / "test.sh",
                   REPO / "scripts" / "demo.sh", REPO / ".ci" / "run"):
        subprocess.run(["bash", "-n", str(script)], check=True)
