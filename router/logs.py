"""structlog setup: JSON lines (or console) on stderr, one event per bind, state change
or error; never one per message (design §3.5)."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Literal

import structlog


@dataclass(frozen=True, slots=True, kw_only=True)
class LogSettings:
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


def configure(config: LogSettings) -> None:
    level = getattr(logging, config.level.upper())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if config.format == "json"
        else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,  # worker=I under --workers
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # one write() an event, its newline included: print() wrote the two apart when
        # stderr is unbuffered, and the workers' lines on one file ran into each other
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def sampled(count: int) -> bool:
    """Log the 1st, 2nd, 4th, 8th… occurrence of a per-message event, with its count:
    a flood of them costs a few lines, never one line per message (design §3.5)."""
    return count & (count - 1) == 0
