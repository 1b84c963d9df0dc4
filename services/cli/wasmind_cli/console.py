"""Shared rich consoles: results on stdout, progress and errors on stderr."""

from rich.console import Console

# Piped output (CI logs, files) gets a wide fixed width instead of rich's default of 80 columns.
console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True)
