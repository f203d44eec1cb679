"""Marts built with require_partition_filter, and every model reading them filters them.

BigQuery refuses a query of such a table without a filter on its partition column; bqemulator
does not, so the models' SQL is checked here (their tests get the filter from
macros/bigquery/partition_filter.sql, checked on the emulator in test_dbt_bigquery.py).
"""

from __future__ import annotations

import re

from flows.settings import PROJECT_ROOT

MODELS = PROJECT_ROOT / "dbt" / "models"
PARTITION = re.compile(r"partition_by=mart_partition\('(\w+)'")


def required_filters() -> dict[str, str]:
    """Mart name -> partition column, for the marts that require a partition filter."""
    found = {}
    for path in MODELS.rglob("*.sql"):
        text = path.read_text()
        if "require_partition_filter=true" in text.replace(" ", ""):
            found[path.stem] = PARTITION.search(text).group(1)
    return found


def test_the_large_date_filtered_marts_require_a_partition_filter() -> None:
    assert required_filters() == {
        "energy_mix_hourly": "hour_utc",
        "weather_forecast_history": "run_day",
    }


def test_every_model_reading_them_filters_on_the_partition_column() -> None:
    readers = 0
    for mart, column in required_filters().items():
        ref = re.compile(r"\{\{\s*ref\('" + mart + r"'\)\s*\}\}(.*?)\n\s*\)", re.S)
        for path in MODELS.rglob("*.sql"):
            for after in ref.findall(path.read_text()):
                readers += 1
                where = after.split("where", 1)[-1] if "where" in after else ""
                assert column in where, f"{path.name} reads {mart} without a filter on {column}"
    assert readers >= 1  # int_forecast__hourly_scored reads energy_mix_hourly
