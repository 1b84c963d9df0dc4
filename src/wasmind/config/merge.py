"""Deep merge of configuration tables (CONFIG.md §5.3)."""

from collections.abc import Mapping
from typing import Any

__all__ = ["deep_merge"]


def deep_merge(base: Mapping[str, Any] | None, override: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``override`` merged into ``base``: tables recursively, anything else (arrays too) replaced.

    Keys present on one side only are kept; either side may be ``None`` (the result is ``None``
    only when both are).
    """
    if base is None and override is None:
        return None
    merged: dict[str, Any] = dict(base or {})
    for key, value in (override or {}).items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged
