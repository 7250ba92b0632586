"""``edgec tracker [--host 127.0.0.1] [--port 9190]``: a TVM RPC tracker for a farm of boards
(each runs ``edgec serve --tracker HOST:PORT --key BOARD``)."""

from __future__ import annotations

import argparse
import sys
import time


def add_parser(sub) -> None:
    p = sub.add_parser("tracker", help="run a TVM RPC tracker for a farm of devices",
                       description="Run a TVM RPC tracker; devices register with `edgec serve "
                                   "--tracker HOST:PORT --key KEY`, clients ask it for a KEY.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for all interfaces)")
    p.add_argument("--port", type=int, default=9190, help="port (default 9190)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgec.device.rpc_server import is_loopback
    from edgec.errors import DeviceError

    from tvm.rpc.tracker import Tracker

    if not is_loopback(args.host):
        print(f"edgec tracker: warning: listening on {args.host}, reachable from other machines",
              file=sys.stderr, flush=True)
    try:
        tracker = Tracker(args.host, port=args.port, port_end=args.port + 1, silent=True)
    except (ValueError, OSError) as err:
        raise DeviceError(f"cannot start a tracker on {args.host}:{args.port}: port in use?") \
            from err
    print(f"edgec tracker: listening on {args.host}:{tracker.port}", flush=True)
    try:
        while tracker.proc is not None and tracker.proc.is_alive():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        tracker.terminate()
    return 0
