"""What every ``chapar`` command shares: the exit codes, the config naming the registry,
the registry seeded from it, refusals printed as ``chapar: …``, times as UTC text."""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router import config as config_mod
from router.config import Config, ConfigError
from router.logs import LogSettings
from router.model.lines import HoursError
from router.policy.plans import Operators, PrefixTableError
from router.policy.ranges import RangesError
from router.policy.settings import PolicySettings
from router.store.lines import LineStore
from router.store.registry import Registry, RegistryError
from router.store.rows import DB_ERRORS
from router.upstream.settings import SimulatorSettings

EXIT_OK = 0
EXIT_USAGE = 2  # a refused request (argparse uses 2 for a bad command line too)
EXIT_CONFIG = EXIT_USAGE  # an invalid or unreadable config file
EXIT_STARTUP = 3  # the config is fine but the router or simulator cannot start

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class CliError(Exception):
    """A request this command refuses; printed as ``chapar: …``."""


def when(at: float) -> str:
    """A registry timestamp as UTC text; ``-`` for never (0)."""
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(at)) if at else "-"


def fail(message: object) -> int:
    print(f"chapar: {message}", file=sys.stderr)
    return EXIT_USAGE


def warn_long_password(password: str) -> None:
    if len(password) > 8:
        print("chapar: warning: SMPP 3.4 allows 8 characters; many clients refuse longer "
              "passwords", file=sys.stderr)


class Group:
    """A command group on the registry (``chapar NAME ACTION …``): every action takes
    ``--config`` and runs as ``actions[ACTION]`` on the seeded registry."""

    def __init__(self, sub: Subparsers, name: str, help_text: str,
                 actions: Mapping[str, Action]) -> None:
        parser = sub.add_parser(name, help=help_text)
        parser.set_defaults(func=functools.partial(run_action, actions=actions))
        self.actions = parser.add_subparsers(dest="action", required=True)
        self.parent = argparse.ArgumentParser(add_help=False)
        self.parent.add_argument(
            "--config", "-c", help="config file naming the registry "
            "(default: the embedded default, ./var/registry.db)")

    def action(self, name: str, help_text: str, *positional: str) -> argparse.ArgumentParser:
        p = self.actions.add_parser(name, parents=[self.parent], help=help_text)
        for arg in positional:
            p.add_argument(arg)
        return p


def registry_config(args: argparse.Namespace) -> Config:
    """The config naming the registry: ``--config``, else the embedded default's paths."""
    if args.config:
        return config_mod.load(Path(args.config))
    return config_mod.Config(simulator=SimulatorSettings(enabled=True))


class Stores(NamedTuple):
    """What a registry command works on: the config and the registry it names."""

    config: Config
    registry: Registry
    lines: LineStore


Action: TypeAlias = Callable[[argparse.Namespace, Stores], None]


@contextmanager
def seeded_registry(args: argparse.Namespace) -> Iterator[Stores]:
    """The config and its registry.  With ``--config`` the registry is seeded as the
    router seeds it at start: accounts and lines named in the YAML exist before the router
    has ever run with that file (and a leftover demo account is suspended).  Without it
    nothing is seeded: the embedded defaults' demo account is ``chapar run``'s alone."""
    from router import logs
    from router.app.seed import seed_registry

    config = registry_config(args)
    logs.configure(LogSettings(level="warning", format="console"))  # warnings to stderr
    path = config.store.registry()
    registry = Registry(path)
    lines = LineStore(path)
    try:
        if args.config:
            seed_registry(config, registry, lines)
        yield Stores(config, registry, lines)
    finally:
        lines.close()
        registry.close()


def operators(policy: PolicySettings) -> Operators:
    return Operators.load(policy.prefix_folder())


def zone(policy: PolicySettings) -> ZoneInfo:
    try:
        return ZoneInfo(policy.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CliError(f"policy.timezone: unknown time zone {policy.timezone!r}") from None


REFUSALS = (CliError, ConfigError, RegistryError, RangesError, HoursError, PrefixTableError,
            ZoneInfoNotFoundError)


def run_refusing(body: Callable[[], None]) -> int:
    """Run ``body``; every refusal becomes ``chapar: …`` and exit 2."""
    try:
        body()
    except REFUSALS as exc:
        return fail(exc)
    except DB_ERRORS as exc:
        return fail(f"registry: {exc}")
    return EXIT_OK


def run_action(args: argparse.Namespace, actions: Mapping[str, Action]) -> int:
    """``actions[args.action]`` on the seeded registry; refusals become exit 2."""

    def body() -> None:
        with seeded_registry(args) as stores:
            actions[args.action](args, stores)

    return run_refusing(body)
