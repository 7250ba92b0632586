"""Run an artifact on a device over TVM RPC: connect (directly or through a tracker), check the
device can run it, upload, run, bring the outputs back."""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import socket
import tempfile
import time
from pathlib import Path

import numpy as np

from edgec.artifact.artifact import Artifact
from edgec.errors import DeviceError, TargetError
from edgec.runtime.inputs import Inputs, normalize_inputs, storage_inputs
from edgec.signature import from_storage
from edgec.runtime.timing import LatencyStats

logger = logging.getLogger(__name__)

# seconds a tracker is given to list a key: a server registers a moment after it listens
REGISTRATION_WAIT = 5.0


def parse_host_port(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DeviceError(f"{what} '{text}' must look like HOST:PORT, e.g. 127.0.0.1:9090")
    return host.strip("[]"), int(port)


@dataclasses.dataclass
class RemoteDevice:
    session: object            # tvm.rpc.RPCSession
    label: str
    info: dict | None          # from edgec.device_check, None for a server that is not edgec's

    def close(self) -> None:
        """End the session now. A TVM RPC server serves one session at a time: until the
        session's last handle is freed, the next client waits (forever, without a timeout).
        Handles to remote modules and tensors can sit in reference cycles, so collect them."""
        self.session = None
        gc.collect()


def connect(url: str | None = None, tracker: str | None = None, key: str | None = None,
            timeout: float = 60) -> RemoteDevice:
    """``url`` is ``rpc://HOST:PORT``; or ``tracker`` HOST:PORT with ``key``."""
    import tvm.rpc

    if tracker:
        if not key:
            raise DeviceError("--tracker needs --key: the device key the boards registered with")
        host, port = parse_host_port(tracker, "tracker address")
        _probe(host, port, f"no RPC tracker answers at {host}:{port}; start one with `edgec "
                           f"tracker --port {port}` or fix --tracker")
        try:
            client = tvm.rpc.connect_tracker(host, port)
            # A device that died without telling the tracker stays listed; never wait forever.
            client._sock.settimeout(timeout)
            keys = _tracker_keys(client.summary())
            # a server that has just started registers a moment after it listens: wait for it
            deadline = time.monotonic() + REGISTRATION_WAIT
            while key not in keys and time.monotonic() < deadline:
                time.sleep(0.2)
                keys = _tracker_keys(client.summary())
            if key not in keys:
                known = ", ".join(sorted(keys)) or "none"
                raise DeviceError(f"no device is registered with the RPC tracker at {host}:{port} "
                                  f"under key '{key}' (keys there: {known}); start one with "
                                  f"`edgec serve --tracker {host}:{port} --key {key}`")
            session = client.request(key, priority=1, session_timeout=0, max_retry=3)
        except (RuntimeError, OSError, TimeoutError) as err:
            raise DeviceError(f"cannot get a '{key}' device from the RPC tracker at "
                              f"{host}:{port} within {timeout:.0f} s ({_short(err)}); the devices "
                              "registered under that key are busy or gone") from err
        label = f"tracker {host}:{port} key {key}"
    else:
        address = url.removeprefix("rpc://") if url else ""
        host, port = parse_host_port(address, "device")
        _probe(host, port, f"cannot connect to an RPC server at {host}:{port}; start one on the "
                           f"device with `edgec serve --port {port}` (add --host 0.0.0.0 to "
                           "accept other machines)")
        try:
            session = tvm.rpc.connect(host, port, session_timeout=0)
        except (RuntimeError, OSError, TimeoutError) as err:
            raise DeviceError(f"cannot connect to an RPC server at {host}:{port} ({_short(err)}); "
                              f"start one on the device with `edgec serve --port {port}` (add "
                              "--host 0.0.0.0 to accept other machines)") from err
        label = f"rpc://{host}:{port}"
    return RemoteDevice(session=session, label=label, info=None)


def check_device(device: RemoteDevice, artifact: Artifact) -> None:
    """Refuse, before uploading, an artifact the device's architecture/CPU cannot run."""
    manifest = artifact.manifest
    arch = manifest.board.get("arch", "")
    try:
        check = device.session.get_function("edgec.device_check")
    except Exception:  # not an edgec server: nothing to ask
        logger.info("%s is not an edgec server; skipping the device check", device.label)
        return
    info = json.loads(check(arch, json.dumps(list(manifest.cpu_features))))
    device.info = info
    if info["arch"] != arch:
        raise TargetError(f"artifact '{artifact.origin}' was built for board "
                          f"'{manifest.board.get('name')}' ({arch}); the device at {device.label} "
                          f"is {info['arch']}")
    if info["missing"]:
        raise TargetError(f"the device at {device.label} lacks CPU features the artifact uses: "
                          f"{', '.join(info['missing'])}")


def run_remote(device: RemoteDevice, artifact: Artifact, inputs: Inputs, repeat: int,
               ) -> tuple[dict[str, np.ndarray], LatencyStats | None]:
    import tvm
    from tvm.runtime import vm as tvm_vm

    check_device(device, artifact)
    manifest = artifact.manifest
    arrays = storage_inputs(manifest.signature,
                            normalize_inputs(manifest.signature, inputs, artifact.origin))
    session = device.session
    name = f"edgec-{manifest.files[manifest.entry['library']].sha256[:16]}.so"
    with tempfile.TemporaryDirectory(prefix="edgec-rpc-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(artifact.library)
        session.upload(str(path), target=name)
    library = session.load_module(name)
    dev = session.cpu(0)
    vm = tvm_vm.VirtualMachine(library, dev)
    function = manifest.entry.get("function", "main")
    vm.set_input(function, *[tvm.runtime.tensor(a, dev) for a in arrays])
    vm.invoke_stateful(function)
    result = vm.get_outputs(function)
    specs = manifest.signature.outputs
    values = [result] if len(specs) == 1 else list(result)
    outputs = {spec.name: from_storage(spec.dtype, value.numpy())
               for spec, value in zip(specs, values)}
    latency = None
    if repeat > 0:
        timer = vm.time_evaluator("invoke_stateful", dev, number=1, repeat=repeat)
        latency = LatencyStats.from_seconds(list(timer(function).results))
    return outputs, latency


def _probe(host: str, port: int, message: str, timeout: float = 5.0) -> None:
    """Fail fast, with ``message``, when nothing listens at host:port (TVM's clients retry
    for a minute)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        raise DeviceError(f"{message} ({err.strerror or err})") from err


def _tracker_keys(summary: dict) -> set[str]:
    keys = set()
    for item in summary.get("server_info", []):
        keys.add(str(item.get("key", "")).split(":", 1)[-1])
    keys.update(summary.get("queue_info", {}).keys())
    return keys


def _short(err: BaseException) -> str:
    text = str(err).strip()
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-1] if lines else type(err).__name__
