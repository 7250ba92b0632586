"""``edgec serve [--host 127.0.0.1] [--port 9090] [--tracker HOST:PORT --key KEY]``: a TVM RPC
server on a device, for ``edgec run --device rpc://...`` and tuning on real boards."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="run a TVM RPC server on this device",
                       description="Serve TVM RPC sessions on this device (TVM runtime only). "
                                   "Binds to loopback unless --host says otherwise: the server "
                                   "runs whatever code it is sent.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for all interfaces)")
    p.add_argument("--port", type=int, default=9090, help="port (default 9090)")
    p.add_argument("--port-end", type=int, default=None,
                   help="try ports up to this one if --port is taken (default: --port only)")
    p.add_argument("--tracker", metavar="HOST:PORT", help="register with this RPC tracker")
    p.add_argument("--key", default="", help="device key to register under (with --tracker)")
    p.add_argument("--threads", type=int, default=None,
                   help="runtime threads for sessions (default: physical cores)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgec.device.rpc_client import parse_host_port
    from edgec.device.rpc_server import is_loopback, serve
    from edgec.errors import OptionError

    if not 0 < args.port < 65536:
        raise OptionError(f"--port {args.port}: not a port number")
    tracker = parse_host_port(args.tracker, "--tracker") if args.tracker else None
    if tracker and not args.key:
        raise OptionError("--tracker needs --key: the name clients will ask the tracker for, "
                          "e.g. --key rasp4b")
    if not is_loopback(args.host):
        print(f"edgec serve: warning: listening on {args.host}, reachable from other machines. "
              "The RPC server executes whatever code a client sends it; use it only on a trusted "
              "network.", file=sys.stderr, flush=True)

    def ready(port: int) -> None:
        where = f" registered with tracker {args.tracker} as '{args.key}'" if tracker else ""
        print(f"edgec serve: listening on {args.host}:{port}{where}", flush=True)

    port_end = args.port_end if args.port_end and args.port_end > args.port else args.port + 1
    serve(args.host, args.port, port_end=port_end, tracker=tracker, key=args.key,
          threads=args.threads, on_ready=ready)
    return 0
