"""Shared rich consoles: results on stdout, progress and errors on stderr."""

from rich.console import Console

# Piped output (CI logs, files) gets a wide fixed width instead of rich's default of 80 columns,
# and messages are never wrapped mid-sentence (tests and scripts grep them).
_WIDTH = None if Console().is_terminal else 160
console = Console(width=_WIDTH, soft_wrap=True)
err_console = Console(stderr=True, width=_WIDTH, soft_wrap=True)
