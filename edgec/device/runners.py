"""Where ``edgec run`` runs an artifact: this machine, a device over RPC, or an emulated board.

Every runner takes the same inputs and returns the same :class:`DeviceRun`, so the caller
compares outputs with ONNX Runtime on this machine whatever ran them.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

from edgec.artifact.artifact import Artifact
from edgec.errors import DeviceError, EdgecError, OptionError
from edgec.runtime.inputs import (Inputs, load_npz, normalize_inputs, restore_dtype,
                                  save_npz)
from edgec.runtime.timing import LatencyStats

LOCAL, EMULATE = "local", "emulate"


@dataclasses.dataclass
class DeviceRun:
    outputs: dict[str, np.ndarray]
    latency: LatencyStats | None
    threads: int | None
    where: str
    emulated: bool = False
    instructions: int | None = None   # microcontrollers: instructions of one run (qemu -icount)


@dataclasses.dataclass(frozen=True)
class DeviceSpec:
    """What ``--device`` / ``--tracker`` / ``--key`` asked for."""

    kind: str                 # local | emulate | rpc | tracker
    address: str = ""
    key: str = ""

    @classmethod
    def parse(cls, device: str | None, tracker: str | None = None,
              key: str | None = None) -> "DeviceSpec":
        if tracker:
            if device not in (None, LOCAL):
                raise OptionError("give either --device or --tracker, not both")
            return cls("tracker", tracker, key or "")
        if key:
            raise OptionError("--key goes with --tracker HOST:PORT")
        device = device or LOCAL
        if device in (LOCAL, EMULATE):
            return cls(device)
        if device.startswith("rpc://"):
            return cls("rpc", device)
        raise OptionError(f"--device '{device}': use local, emulate, or rpc://HOST:PORT")


def run_on(spec: DeviceSpec, artifact: Artifact, inputs: Inputs, repeat: int = 10,
           threads: int | None = None) -> DeviceRun:
    if artifact.manifest.entry.get("kind") == "c":
        if spec.kind != EMULATE:
            raise OptionError(
                f"'{artifact.origin}' is C code for the microcontroller board "
                f"'{artifact.board}': it runs on that board (build model.c into its firmware) "
                "or emulated here with --device emulate, not on this machine or over RPC")
        return _run_firmware(artifact, inputs)
    if spec.kind == LOCAL:
        session = artifact.session(threads=threads)
        outputs = session.run(inputs)
        latency = session.benchmark(inputs, repeat) if repeat > 0 else None
        return DeviceRun(outputs, latency, session.threads, "this machine")
    if spec.kind == EMULATE:
        return _run_emulated(artifact, inputs, repeat, threads)
    from edgec.device import rpc_client

    device = rpc_client.connect(url=spec.address if spec.kind == "rpc" else None,
                                tracker=spec.address if spec.kind == "tracker" else None,
                                key=spec.key)
    try:
        outputs, latency = rpc_client.run_remote(device, artifact, inputs, repeat)
    finally:
        device.close()
    info = device.info or {}
    where = device.label + (f" ({info['arch']}" + (", emulated" if info.get("emulated") else "")
                            + ")" if info else "")
    return DeviceRun(outputs, latency, info.get("threads"), where,
                     emulated=bool(info.get("emulated")))


def _run_firmware(artifact: Artifact, inputs: Inputs) -> DeviceRun:
    from edgec.device.firmware import run_firmware
    from edgec.targets import board_for_manifest

    board = board_for_manifest(artifact.manifest.board)
    arrays = normalize_inputs(artifact.signature, inputs, artifact.origin)
    result = run_firmware(board, artifact.manifest, artifact.files, arrays)
    outputs = {spec.name: value for spec, value in zip(artifact.signature.outputs,
                                                        result.outputs)}
    return DeviceRun(outputs, None, 1, f"emulated {board.name} (qemu-system-arm -M "
                     f"{board.emulator.machine})", emulated=True,
                     instructions=result.instructions)


def _run_emulated(artifact: Artifact, inputs: Inputs, repeat: int,
                  threads: int | None) -> DeviceRun:
    from edgec.device.emulator import run_edgec
    from edgec.targets import board_for_manifest

    board = board_for_manifest(artifact.manifest.board)
    arrays = normalize_inputs(artifact.signature, inputs, artifact.origin)
    with tempfile.TemporaryDirectory(prefix="edgec-emulate-") as tmp:
        tmp_path = Path(tmp)
        art_path = artifact.save(tmp_path / "model.edgec.tar")
        save_npz(tmp_path / "in.npz", {s.name: a for s, a in zip(artifact.signature.inputs,
                                                                  arrays)})
        args = ["run", str(art_path), "--inputs", str(tmp_path / "in.npz"), "--outputs",
                str(tmp_path / "out.npz"), "--repeat", str(repeat), "--report",
                str(tmp_path / "report.json")]
        if threads:
            args += ["--threads", str(threads)]
        result = run_edgec(board, args)
        if result.returncode != 0:
            message = next((l.removeprefix("edgec: error: ") for l in result.stderr.splitlines()
                            if l.startswith("edgec: ")), result.stderr.strip()[-500:])
            if "Illegal instruction" in result.stderr:
                message += (f" (the artifact uses instructions the emulated CPU "
                            f"'{board.emulator.cpu}' does not have: it was built for CPU "
                            f"'{artifact.manifest.target.get('mcpu', '?')}')")
            error = EdgecError if result.returncode == 2 else DeviceError
            raise error(f"on the emulated {board.name}: {message}")
        dtypes = {spec.name: spec.dtype for spec in artifact.signature.outputs}
        outputs = {name: restore_dtype(dtypes.get(name, str(value.dtype)), value)
                   for name, value in load_npz(tmp_path / "out.npz").items()}
        report = json.loads((tmp_path / "report.json").read_text())
    latency = LatencyStats(**report["latency"]) if report.get("latency") else None
    cpu = board.emulator.cpu
    return DeviceRun(outputs, latency, report.get("threads"),
                     f"emulated {board.name} (qemu {board.emulator.qemu} -cpu {cpu})",
                     emulated=True)
