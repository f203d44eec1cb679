"""Marts that BigQuery reads only with a partition filter are read through one by the dashboard."""

from __future__ import annotations

import re

from dashboard import queries
from flows.settings import PROJECT_ROOT, Settings

REQUIRED = re.compile(r"require_partition_filter\s*=\s*true")
PARTITION = re.compile(r"partition_by\s*=\s*mart_partition\(\s*'(\w+)'")


def filtered_marts() -> dict[str, str]:
    """Mart name → partition column, for every mart dbt builds with require_partition_filter."""
    found = {}
    for path in (PROJECT_ROOT / "dbt" / "models" / "marts").rglob("*.sql"):
        text = path.read_text()
        if REQUIRED.search(text):
            found[path.stem] = PARTITION.search(text).group(1)
    return found


def test_every_filtered_mart_the_dashboard_reads_carries_its_filter():
    marts = {m.name: m for m in vars(queries).values() if isinstance(m, queries.Mart)}
    filtered = filtered_marts()
    assert "energy_mix_hourly" in filtered
    for name, column in filtered.items():
        if name in marts:
            assert marts[name].partition_filter == column, name
            sql = queries.MartReader(Settings()).table(marts[name])
            assert f"where {column} is not null" in sql
    unfiltered = [m for n, m in marts.items() if n not in filtered]
    assert all(m.partition_filter is None for m in unfiltered)
