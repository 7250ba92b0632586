#!/usr/bin/env bash
# Set up edgec on a Debian/Ubuntu machine: the system packages it needs, a virtual environment
# in .venv, and edgec installed (editable) with its test extras. Safe to run again.
#
#   ./scripts/setup.sh            # everything, including test dependencies
#   EDGEC_EXTRAS=check ./scripts/setup.sh   # without pytest/test models
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages, one list: this script is also what docker/Dockerfile runs, so the image and a
# native set-up cannot drift apart.
#   g++                        links libraries for the host (x86-64)
#   g++-aarch64-linux-gnu      cross toolchain: 64-bit ARM boards (Raspberry Pi 4/5, RK3399, Jetson)
#   g++-arm-linux-gnueabihf    cross toolchain: 32-bit ARM boards (Raspberry Pi 3, Pi 4 32-bit OS)
#   qemu-user                  emulated boards (edgec run --device emulate, edgec emulator)
#   gcc-arm-none-eabi, libnewlib-arm-none-eabi
#                              microcontroller boards: the C artifact's reference build and
#                              the firmware that runs it
#   qemu-system-arm            emulated microcontroller boards (Arm MPS2/MPS3 Cortex-M)
#   python3-venv, python3-dev  the virtual environment
APT_PACKAGES=(g++ g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user python3-venv python3-dev
              ca-certificates gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing system packages: ${missing[*]}"
    if [[ $(id -u) -eq 0 ]]; then SUDO=(); elif command -v sudo >/dev/null; then SUDO=(sudo); else
        echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    # apt and dpkg print a few lines per package; keep them in a log, shown if they fail.
    apt_log=$(mktemp -t edgec-setup-apt.XXXXXX)
    if ! { "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq \
            --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
        tail -n 30 "$apt_log" >&2
        echo "setup: installing system packages failed (full log: $apt_log)" >&2
        exit 1
    fi
    rm -f "$apt_log"
fi

PYTHON=${PYTHON:-}
if [[ -z $PYTHON ]]; then
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null; then PYTHON=$candidate; break; fi
    done
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: edgec needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)" >&2
    exit 1
fi

if [[ ! -x .venv/bin/python ]]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[${EDGEC_EXTRAS:-test}]"
echo "setup: ready; activate with: . .venv/bin/activate"
