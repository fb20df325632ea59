"""The ``chapar`` command."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from router import cli_lines, cli_registry
from router import config as config_mod
from router.config import Config, ConfigError
from router.logs import LogSettings

EXIT_CONFIG = 2
EXIT_STARTUP = 3


def _version() -> str:
    try:
        return version("chapar")
    except PackageNotFoundError:
        return "0+unknown"


def _run_async(main: object) -> None:
    """Run a coroutine on uvloop when it is installed (it is a dependency)."""
    try:
        import uvloop

        uvloop.run(main)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(main)  # type: ignore[arg-type]


def _load_config(path: str | None) -> Config:
    if path is not None:
        return config_mod.load(Path(path))
    from router.policy.auth import hash_password

    return config_mod.embedded_default(hash_password(config_mod.DEMO_PASSWORD))


def cmd_run(args: argparse.Namespace) -> int:
    from router import logs
    from router.app.lifecycle import App

    try:
        config = _load_config(args.config)
    except ConfigError as exc:
        print(f"chapar: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logs.configure(config.log)
    app = App(config)
    try:
        _run_async(app.run())
    except OSError as exc:
        print(f"chapar: cannot start: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from router import logs
    from router.upstream.settings import SimulatorSettings
    from router.upstream.simulator import Simulator

    logs.configure(LogSettings())
    sim = Simulator(SimulatorSettings(
        host=args.host, port=args.port, receipt_delay=args.receipt_delay,
        failure_ratio=args.failure_ratio, system_id=args.system_id or "",
        password=args.password or "", record=args.record or ""))

    async def main() -> None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        port = await sim.start()
        if args.port_file:
            tmp = Path(args.port_file + ".tmp")
            tmp.write_text(str(port))
            tmp.replace(args.port_file)
        await stop.wait()
        await sim.stop()

    try:
        _run_async(main())
    except OSError as exc:
        print(f"chapar sim: cannot start: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config_mod.load(Path(args.file))
    except ConfigError as exc:
        print(f"chapar: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"{args.file}: ok")
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    from router.policy.auth import hash_password

    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass("password: ")
    if not password:
        print("chapar: empty password", file=sys.stderr)
        return EXIT_CONFIG
    if len(password) > 8:
        print("chapar: warning: SMPP 3.4 allows 8 characters; many clients refuse longer "
              "passwords", file=sys.stderr)
    print(hash_password(password))
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    print(f"chapar {_version()}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chapar", description="SMPP 3.4 router for bulk SMS")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the router (embedded defaults without --config)")
    run.add_argument("--config", "-c", help="YAML config file")
    run.set_defaults(func=cmd_run)

    sim = sub.add_parser("sim", help="run the built-in carrier simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=2776, help="0 picks a free port")
    sim.add_argument("--port-file", help="write the bound port here once listening")
    sim.add_argument("--receipt-delay", type=float, default=0.2, help="seconds")
    sim.add_argument("--failure-ratio", type=float, default=0.0)
    sim.add_argument("--system-id", help="require this system_id")
    sim.add_argument("--password", help="require this password")
    sim.add_argument("--record", help="append one JSON line per accepted message")
    sim.set_defaults(func=cmd_sim)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)

    hp = sub.add_parser("hash-password", help="print an argon2id hash for the config")
    hp.add_argument("--stdin", action="store_true", help="read the password from stdin")
    hp.set_defaults(func=cmd_hash_password)

    ver = sub.add_parser("version", help="print the version")
    ver.set_defaults(func=cmd_version)

    cli_registry.add_parsers(sub)
    cli_lines.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
