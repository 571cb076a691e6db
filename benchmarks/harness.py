"""The benchmark harness, for scripts in this folder (``from harness import alternate, ...``).

It lives in :mod:`finehub.bench.harness` so that ``finehub bench`` can use it from an installed
package; see that module for the contract (contenders, alternation, JSON layout).
"""

from finehub.bench.harness import (
    SCHEMA,
    BenchResult,
    Contender,
    ContenderStats,
    Figure,
    Work,
    alternate,
    format_value,
    machine_info,
    now_iso,
    ratio,
    render_table,
    write_json,
)

__all__ = [
    "SCHEMA",
    "BenchResult",
    "Contender",
    "ContenderStats",
    "Figure",
    "Work",
    "alternate",
    "format_value",
    "machine_info",
    "now_iso",
    "ratio",
    "render_table",
    "write_json",
]
