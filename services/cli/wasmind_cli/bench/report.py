"""Benchmark results: one record per figure, printed as JSON lines or as a table."""

import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from rich.table import Table

from wasmind_cli.console import console

__all__ = ["Result", "percentile", "print_results"]


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples`` (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Result:
    """One measured figure. ``target`` and ``ok`` are set when the figure has a target."""

    suite: str
    name: str
    value: float
    unit: str
    p99: float | None = None
    samples: int = 0
    target: float | None = None
    ok: bool | None = None
    baseline: str | None = None
    ratio: float | None = None

    @classmethod
    def of(
        cls,
        suite: str,
        name: str,
        samples: Sequence[float],
        unit: str,
        scale: float = 1.0,
        target: float | None = None,
    ) -> "Result":
        """Median (and p99) of ``samples`` times ``scale``, checked against ``target`` (lower is better)."""
        value = statistics.median(samples) * scale
        result = cls(
            suite, name, round(value, 3), unit, round(percentile(samples, 0.99) * scale, 3), len(samples)
        )
        return result.check(target)

    def check(self, target: float | None) -> "Result":
        """Set ``target`` and whether the value meets it (lower is better)."""
        if target is not None:
            self.target, self.ok = target, self.value <= target
        return self

    def against(self, baseline: "Result") -> "Result":
        """Record the ratio to a baseline measured in the same run."""
        self.baseline = baseline.name
        self.ratio = round(self.value / baseline.value, 2) if baseline.value else None
        return self


def print_results(results: Sequence[Result], as_json: bool) -> None:
    """JSON lines (one object per result) or a readable table."""
    if as_json:
        for result in results:
            sys.stdout.write(json.dumps({k: v for k, v in asdict(result).items() if v is not None}) + "\n")
        sys.stdout.flush()
        return
    table = Table("suite", "figure", "value", "p99", "target", "vs baseline")
    for r in results:
        mark = "" if r.ok is None else (" [green]✓[/]" if r.ok else " [red]✗[/]")
        table.add_row(
            r.suite,
            r.name,
            f"{r.value:g} {r.unit}{mark}",
            "" if r.p99 is None else f"{r.p99:g}",
            "" if r.target is None else f"≤ {r.target:g}",
            "" if r.ratio is None else f"{r.ratio}× {r.baseline}",
        )
    console.print(table)
