"""structlog set-up shared by every process: JSON lines, or a console renderer on a terminal.

The level comes from ``WASMIND_LOG`` (``debug``, ``info``, ``warn``/``warning``, ``error``;
default ``info``). Records below the level cost one comparison.
"""

import logging
import os
import sys
from typing import TextIO

import structlog

from wasmind.telemetry.tracing import log_trace_ids

__all__ = ["configure_logging", "log_debug", "log_level"]

_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def log_level() -> int:
    """The level named by ``WASMIND_LOG`` (default info); unknown names fall back to info."""
    return _LEVELS.get(os.environ.get("WASMIND_LOG", "info").strip().lower(), logging.INFO)


_level: int | None = None  # set by configure_logging; unconfigured structlog writes everything


def log_debug() -> bool:
    """True when debug records are written (so callers can skip building costly fields)."""
    return _level is None or _level <= logging.DEBUG


def configure_logging(stream: TextIO = sys.stderr, json: bool | None = None) -> None:
    """Configure structlog for this process (``json`` defaults to "not a terminal")."""
    as_json = (not stream.isatty()) if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            log_trace_ids,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(log_level()),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    global _level
    _level = log_level()
