"""A regular (non-editable) install carries every package and data file edgec needs."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from tests.conftest import REPO


def test_wheel_contents(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "-w", str(tmp_path), str(REPO)], check=True,
                           capture_output=True, text=True)
    # the packaging configuration is clean: no page per data folder about "packages"
    assert "absent from the `packages` configuration" not in built.stdout + built.stderr
    wheel = next(tmp_path.glob("edgec-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("edgec/__init__.py", "edgec/cli/main.py", "edgec/device/emulator.py",
                     "edgec/passes/pipeline.py", "edgec/targets/registry.py",
                     "edgec/targets/boards/host.toml", "edgec/targets/boards/rasp4b.toml",
                     "edgec/device/runtime_support/include/tvm/support/io.h",
                     "edgec/schedules/tiled_reduction.py", "edgec/tuning/tune.py",
                     "edgec/tuning_logs/README.md"):
        assert required in names, required
    # every module of the source tree, under its installed name (a package missing from
    # pyproject's list works in an editable install and is absent from a wheel)
    installed = {"edgec": "edgec", "passes": "edgec/passes", "targets": "edgec/targets"}
    modules = {f"{installed[top]}/{p.relative_to(REPO / top).as_posix()}"
               for top in installed for p in (REPO / top).rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    boards = {n for n in names if n.startswith("edgec/targets/boards/")}
    assert len(boards) == len(list((REPO / "targets" / "boards").glob("*.toml")))
    shipped = {p.relative_to(REPO).as_posix().replace("tuning_logs/", "edgec/tuning_logs/", 1)
               for p in (REPO / "tuning_logs").rglob("*.json")}
    assert shipped <= names, shipped - names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "edgec = edgec.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
