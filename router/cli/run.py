"""``chapar run`` (the router) and ``chapar sim`` (the built-in carrier simulator)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from router import config as config_mod
from router.cli.common import EXIT_CONFIG, EXIT_OK, EXIT_STARTUP, Subparsers
from router.config import Config, ConfigError
from router.logs import LogSettings


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


def _layout_refusal(config: Config, count: int) -> str | None:
    """A journal this layout does not replay still holds work (app/layout.py): why the
    start must not go on.  A store that cannot be read refuses too (it may hold work)."""
    from router.app import layout
    from router.store.rows import DB_ERRORS

    try:
        return layout.refusal(config, count)
    except (*DB_ERRORS, OSError) as exc:
        return f"cannot read the journals of other worker layouts: {exc}"


def cmd_run(args: argparse.Namespace) -> int:
    import structlog

    from router import logs
    from router.admin.token import AdminConfigError
    from router.app.lifecycle import App
    from router.upstream.routing import RouteError

    try:
        config = _load_config(args.config)
    except ConfigError as exc:
        print(f"chapar: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logs.configure(config.log)
    from router.app import workers

    try:
        count = workers.count_of(args.workers)
    except ValueError as exc:
        print(f"chapar: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.worker is None:
        refused = _layout_refusal(config, count)
        if refused is not None:
            print(f"chapar: {refused}", file=sys.stderr)
            return EXIT_STARTUP
    if count > 1 and args.worker is None:
        try:
            return workers.run_supervisor(config, args.config, count, args.share)
        except OSError as exc:  # the ports, in --share inherit or deal
            print(f"chapar: cannot start: {exc}", file=sys.stderr)
            return EXIT_STARTUP
    slot = None
    if args.worker is not None:
        slot = workers.WorkerSlot.parse(args.worker, args.share)
        structlog.contextvars.bind_contextvars(worker=slot.index)
        config = workers.for_worker(config, slot.index, slot.count)
    else:
        config = workers.with_retired(config, 1)
    app = App(config, slot, Path(args.config) if args.config else None)
    try:
        _run_async(app.run())
    except RouteError as exc:
        print(f"chapar: {args.config}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except AdminConfigError as exc:
        print(f"chapar: cannot start the admin API: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    except OSError as exc:
        print(f"chapar: cannot start: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    return EXIT_OK


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
    return EXIT_OK


def add_parsers(sub: Subparsers) -> None:
    run = sub.add_parser("run", help="run the router (embedded defaults without --config)")
    run.add_argument("--config", "-c", help="YAML config file")
    run.add_argument("--workers", default="1",
                     help="worker processes sharing the ports: a number, or auto (one per "
                          "CPU); more than 1 starts a supervisor")
    run.add_argument("--share", choices=("deal", "reuseport", "inherit"), default="deal",
                     help="how workers share a port: the supervisor deals each connection "
                          "to the workers in turn (default), each binds it with "
                          "SO_REUSEPORT, or all accept on the supervisor's socket")
    run.add_argument("--worker", help=argparse.SUPPRESS)  # I/N: set by the supervisor
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
