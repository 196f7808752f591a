"""``greenpipe broker run|credentials``: parsers and command implementations.

``greenpipe.app.cli`` calls ``add_parsers``; ``greenpipe broker`` alone (or with ``--port``)
still runs the embedded amqtt broker, as before.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

LoadConfig = Callable[[argparse.Namespace], Any]


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser,
                load: LoadConfig, run_embedded: Callable[[argparse.Namespace], int]) -> None:
    """Register ``broker`` with ``run`` (the default) and ``credentials``."""
    p = sub.add_parser("broker", help="run the embedded MQTT broker; make broker credentials")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: free one)")
    p.set_defaults(func=run_embedded)
    b_sub = p.add_subparsers(dest="broker_command", required=False, metavar="SUBCOMMAND")
    s = b_sub.add_parser("run", help="run the embedded amqtt MQTT broker (the default)")
    s.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: free one)")
    s.set_defaults(func=run_embedded)
    s = b_sub.add_parser("credentials", parents=[common],
                         help="per-site MQTT users: a hashed password file and an ACL")
    s.add_argument("--format", choices=["mosquitto"], default="mosquitto",
                   help="broker file format (default: mosquitto)")
    s.add_argument("--out", required=True, type=Path,
                   help="directory for passwd, acl and passwords/<user> (mode 0600)")
    s.add_argument("--simulator", action="store_true",
                   help="also a 'simulator' user that publishes for every site (demo)")
    s.set_defaults(func=lambda a: credentials_command(a, load(a)))


def credentials_command(args: argparse.Namespace, cfg: Any) -> int:
    """Write the credentials; print what was written, never a password."""
    from brokerauth.credentials import write_mosquitto

    made = write_mosquitto(cfg, args.out, simulator=args.simulator)
    kept = len(made.users) - len(made.created)
    print(f"wrote {made.passwd} and {made.acl} for {len(made.users)} users "
          f"({len(made.created)} new passwords, {kept} kept); each user's password is in "
          f"{made.password_dir}/<user> (mode 0600): hand it to that gateway only")
    return 0
