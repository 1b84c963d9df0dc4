"""Benchmark results: one record per figure, printed as JSON lines or as a table."""

import json
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from rich.table import Table

from wasmind_cli.console import console

__all__ = ["Result", "percentile", "print_results"]


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples`` (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Result:
    """One measured figure. ``target``, ``better`` and ``ok`` are set when the figure has a target.

    ``target`` and ``ok`` always concern ``value``. ``better`` says which way the target goes:
    ``"lower"`` (``value`` at most ``target``: latencies, memory) or ``"higher"`` (at least
    ``target``: rates). A target stated as a ratio is a figure of its own (:meth:`quotient`).
    """

    suite: str
    name: str
    value: float
    unit: str
    p99: float | None = None
    samples: int = 0
    target: float | None = None
    better: Literal["lower", "higher"] | None = None
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
        *,
        higher_is_better: bool = False,
    ) -> "Result":
        """Median (and p99) of ``samples`` times ``scale``, checked against ``target``."""
        value = statistics.median(samples) * scale
        result = cls(
            suite, name, round(value, 3), unit, round(percentile(samples, 0.99) * scale, 3), len(samples)
        )
        return result.check(target, higher_is_better=higher_is_better)

    @classmethod
    def quotient(
        cls,
        name: str,
        numerator: "Result",
        denominator: "Result",
        target: float | None = None,
        *,
        higher_is_better: bool = False,
    ) -> "Result":
        """A figure that is the ratio of two results of the same run (``numerator / denominator``).

        For targets stated as ratios ("≥ 70 % of the bare rate", "≤ 1.3× the latency with 10
        agents"): the ratio is the ``value``, so ``target`` and ``ok`` keep meaning the value.
        """
        value = round(numerator.value / denominator.value, 3) if denominator.value else math.nan
        result = cls(numerator.suite, name, value, "×", samples=numerator.samples, baseline=denominator.name)
        return result.check(target, higher_is_better=higher_is_better)

    @classmethod
    def paired_quotient(
        cls,
        name: str,
        pairs: Sequence[tuple[float, float]],
        numerator: "Result",
        denominator: "Result",
        target: float | None = None,
        *,
        higher_is_better: bool = False,
    ) -> "Result":
        """Like :meth:`quotient`, from ``(numerator, denominator)`` samples measured in pairs, one
        right after the other: the median of the per-pair ratios (each pair saw the same minute of
        a shared machine, whose speed drifts between minutes). ``numerator`` and ``denominator``
        are the results of those samples (they name the figures)."""
        ratios = [top / bottom for top, bottom in pairs if bottom]
        value = round(statistics.median(ratios), 3) if ratios else math.nan
        result = cls(numerator.suite, name, value, "×", samples=numerator.samples, baseline=denominator.name)
        return result.check(target, higher_is_better=higher_is_better)

    def check(self, target: float | None, *, higher_is_better: bool = False) -> "Result":
        """Set ``target`` and whether ``value`` meets it (at most, or at least if ``higher_is_better``)."""
        if target is not None:
            self.target = target
            self.better = "higher" if higher_is_better else "lower"
            self.ok = self.value >= target if higher_is_better else self.value <= target
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
        if r.ratio is not None:
            versus = f"{r.ratio}× {r.baseline}"
        else:
            versus = f"of {r.baseline}" if r.baseline else ""
        table.add_row(
            r.suite,
            r.name,
            f"{r.value:g} {r.unit}{mark}",
            "" if r.p99 is None else f"{r.p99:g}",
            "" if r.target is None else f"{'≥' if r.better == 'higher' else '≤'} {r.target:g}",
            versus,
        )
    console.print(table)
