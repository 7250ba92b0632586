"""Board files: every shipped one loads; malformed ones are errors naming the file."""

from __future__ import annotations

import pytest

from edgec.errors import BoardFileError, TargetError
from edgec.targets import list_boards, load_board_file, resolve_target
from edgec.targets.registry import BOARDS_DIR


def test_every_shipped_board_file_loads_and_is_named_after_its_file():
    files = sorted(BOARDS_DIR.glob("*.toml"))
    assert files
    for path in files:
        board = load_board_file(path)
        assert board.name == path.stem
    assert "host" in [b.name for b in list_boards()]


def _write(tmp_path, text, name="myboard"):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


GOOD = '''
name = "myboard"
description = "test"
kind = "cpu"
arch = "x86_64"
[target]
kind = "llvm"
'''


def test_minimal_board(tmp_path):
    board = load_board_file(_write(tmp_path, GOOD))
    assert board.pipeline.opt_level == 3 and board.toolchain.compiler == ""


def test_unknown_top_level_key_names_the_file(tmp_path):
    path = _write(tmp_path, GOOD.replace('arch = "x86_64"', 'arch = "x86_64"\ncolour = "red"'))
    with pytest.raises(BoardFileError, match=r"myboard\.toml': unknown key\(s\) colour"):
        load_board_file(path)


def test_unknown_nested_key(tmp_path):
    path = _write(tmp_path, GOOD + '[toolchain]\ncompilr = "gcc"\n')
    with pytest.raises(BoardFileError, match=r"unknown key\(s\) toolchain\.compilr"):
        load_board_file(path)


def test_wrong_type(tmp_path):
    path = _write(tmp_path, GOOD + "[pipeline]\nopt_level = \"high\"\n")
    with pytest.raises(BoardFileError, match=r"'pipeline\.opt_level' must be a int"):
        load_board_file(path)


def test_missing_required_key(tmp_path):
    path = _write(tmp_path, GOOD.replace('kind = "cpu"\n', ""))
    with pytest.raises(BoardFileError, match="missing required key 'kind'"):
        load_board_file(path)


def test_bad_kind_and_file_name(tmp_path):
    with pytest.raises(BoardFileError, match="kind 'dsp' is not one of"):
        load_board_file(_write(tmp_path, GOOD.replace('kind = "cpu"', 'kind = "dsp"')))
    with pytest.raises(BoardFileError, match="must be named 'myboard.toml'"):
        load_board_file(_write(tmp_path, GOOD, name="other"))


def test_invalid_toml(tmp_path):
    with pytest.raises(BoardFileError, match=r"myboard\.toml' cannot be read"):
        load_board_file(_write(tmp_path, "name = \n"))


def test_host_resolves_to_this_cpu():
    from tvm.target import codegen

    resolved = resolve_target("host")
    assert resolved.target["mcpu"] == str(codegen.llvm_get_system_cpu())
    assert resolved.target["mtriple"] == "x86_64-linux-gnu"
    assert resolved.target["num-cores"] >= 1


def test_unknown_target():
    with pytest.raises(TargetError, match=r"unknown target 'nosuchboard'; known boards: .*host"):
        resolve_target("nosuchboard")


def test_json_target():
    resolved = resolve_target('{"kind": "llvm", "mtriple": "x86_64-linux-gnu", '
                              '"mcpu": "skylake-avx512"}')
    assert resolved.board.name == "custom" and resolved.board.arch == "x86_64"
    assert "avx512f" in resolved.cpu_features


def test_bad_json_target():
    with pytest.raises(TargetError, match="looks like JSON but cannot be parsed"):
        resolve_target("{kind: llvm")
    with pytest.raises(TargetError, match="of kind 'nosuchkind'; edgec builds CPU"):
        resolve_target('{"kind": "nosuchkind"}')
    with pytest.raises(TargetError, match="TVM rejects the target"):
        resolve_target('{"kind": "llvm", "mcpu": 3.5}')


def test_every_available_board_resolves_and_unavailable_ones_say_why():
    from edgec.targets import list_boards

    for board in list_boards():
        if board.available:
            resolved = resolve_target(board.name)
            assert resolved.target["kind"] == board.target["kind"]
        else:
            with pytest.raises(TargetError, match=board.unavailable_reason[:20]):
                resolve_target(board.name)


def test_microcontroller_boards_compile_to_c_and_are_emulated():
    from edgec.targets import list_boards

    mcus = {b.name: b for b in list_boards() if b.kind == "mcu"}
    assert {"cortex-m4", "cortex-m7", "cortex-m55", "stm32f746"} <= set(mcus)
    for board in mcus.values():
        assert board.available and board.target["kind"] == "c"
        assert board.toolchain.compiler == "arm-none-eabi-gcc"
        assert any(f.startswith("-mcpu=") for f in board.toolchain.cflags)
        assert board.emulator.qemu == "qemu-system-arm" and board.emulator.machine
        assert board.emulator.systick_hz > 0
    stm32 = mcus["stm32f746"].memory
    assert (stm32.flash_kb, stm32.ram_kb) == (1024, 320)
    assert resolve_target("cortex-m55").tvm_target().attrs["mcpu"] == "cortex-m55"


def test_aliases_and_arm_boards():
    assert resolve_target("raspberry-pi-4b").board.name == "rasp4b"
    assert resolve_target("mps2-an386").board.name == "cortex-m4"
    pi32 = resolve_target("rasp4b-32")
    assert pi32.board.arch == "armv7l" and pi32.target["mfloat-abi"] == "hard"
    pi5 = resolve_target("rasp5")
    assert "dotprod" in pi5.cpu_features
    assert resolve_target("jetson-orin-nano").target["mcpu"] == "cortex-a78ae"
