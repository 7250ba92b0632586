"""``edgec serve``: TVM's RPC server, run inside this process, for a device.

The server runs in-process (not in a child interpreter, which qemu user mode cannot exec) with
TVM's runtime only. Before it starts, this registers ``edgec.device_check`` so that a client can
ask whether an artifact can run here (architecture, CPU features) before uploading it, and loads
TVM's extra runtime library (random fill for MetaSchedule measurements) when present.
"""

from __future__ import annotations

import ctypes
import ipaddress
import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _load_extra_runtime() -> None:
    import tvm

    lib_dir = Path(tvm.__file__).parent / "lib"
    extra = lib_dir / "libtvm_runtime_extra.so"
    if extra.is_file():
        try:
            ctypes.CDLL(str(extra), ctypes.RTLD_GLOBAL)
        except OSError as err:
            logger.debug("could not load %s: %s", extra, err)


def register_device_check(threads: int) -> None:
    import tvm_ffi

    from edgec import __version__
    from edgec.runtime.cpu_features import machine_arch, missing_features

    @tvm_ffi.register_global_func("edgec.device_check", override=True)
    def device_check(arch: str, features_json: str) -> str:
        here = machine_arch()
        missing = missing_features(arch, json.loads(features_json)) if arch == here else []
        return json.dumps({"arch": here, "missing": missing, "edgec": __version__,
                           "threads": threads, "emulated": os.environ.get("EDGEC_EMULATED", "")})


def serve(host: str, port: int, port_end: int | None = None, tracker: tuple[str, int] | None = None,
          key: str = "", threads: int | None = None, on_ready=None) -> None:
    """Serve RPC sessions until interrupted; ``on_ready(port)`` runs once it listens."""
    from edgec.runtime.threads import configure_threads

    threads = configure_threads(threads)
    import tvm.rpc.server as rpc_server

    _load_extra_runtime()
    register_device_check(threads)
    bound = rpc_server._popen_start_rpc_server(
        host, port, port_end or port + 1, tracker_addr=tracker, key=key, silent=True,
        custom_addr=None)
    if on_ready is not None:
        on_ready(bound)
    rpc_server.PopenRPCServerState.current.thread.join()
