"""Every production mart has a reader declared as a dbt exposure: the dashboard, or the forecast."""

from __future__ import annotations

from pathlib import Path

import yaml

DBT = Path(__file__).resolve().parents[2] / "dbt"


def test_the_dashboard_exposure_depends_on_every_mart() -> None:
    spec = yaml.safe_load((DBT / "models/marts/_dashboard__exposures.yml").read_text())
    by_type = {e["type"]: e for e in spec["exposures"]}
    assert set(by_type) == {"dashboard", "ml"}
    assert all(e["description"].strip() for e in spec["exposures"])
    refs = {
        d.removeprefix("ref('").removesuffix("')")
        for e in spec["exposures"]
        for d in e["depends_on"]
    }
    assert "forecast_inputs_hourly" in {
        d.removeprefix("ref('").removesuffix("')") for d in by_type["ml"]["depends_on"]
    }
    marts = {p.stem for p in (DBT / "models/marts").rglob("*.sql")}
    # The run splits the Looker Studio report does not read: the newest run and the recent runs
    # (the Streamlit dashboard's weather page and feed status), the history (backtests).
    unused = {"weather_forecast_current_run", "weather_forecast_recent", "weather_forecast_history"}
    assert marts - unused <= refs
