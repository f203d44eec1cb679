"""The app itself, run by Streamlit's AppTest: the values each page shows against the marts."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import ui
from flows.settings import get_settings
from tests.conftest import ROOT
from tests.dashboard.conftest import (
    AS_OF,
    LATEST_COMPLETE_DAY,
    PAST_ISSUES,
    SKILL_HEADLINE,
    Production,
    add_forecaster_columns,
    free_port,
    read_mart,
)

pytestmark = pytest.mark.slow

APP = ROOT / "dashboard" / "app.py"
PAGES = {
    "Forecast": "views/forecast.py",
    "Skill": "views/skill.py",
    "Energy mix": "views/energy_mix.py",
    "Gas and temperature": "views/gas_temperature.py",
    "Weather": "views/weather.py",
    "Pipeline health": "views/pipeline_health.py",
}


# Axis titles that name categories, not quantities.
UNITLESS = {"Dataset"}


def open_page(title: str) -> AppTest:
    """The app, on one page, as a browser would first show it."""
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    if title != "Forecast":
        at.switch_page(PAGES[title]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [title]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def point_at(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(f"AGGREGAT_{key.upper()}", value)
    get_settings.cache_clear()


@pytest.mark.parametrize("title", list(PAGES))
def test_every_chart_has_units_a_period_and_a_download(dashboard_settings, title: str) -> None:
    at = open_page(title)
    specs = charts(at)
    assert specs, f"{title} shows no chart"
    for spec in specs:
        layout = spec["layout"]
        y_title = layout["yaxis"]["title"]["text"]
        if y_title not in UNITLESS:
            assert "(" in y_title and y_title.endswith(")"), f"{title}: no unit in {y_title!r}"
        assert layout["xaxis"]["title"]["text"], f"{title}: a chart without an x-axis title"
    downloads = [b.proto.label for b in at.get("download_button")]
    assert len(downloads) == len(specs)
    periods = [d.label for d in at.date_input] + [s.label for s in at.selectbox]
    assert "Period" in periods or "Issue date" in periods


def test_forecast_page_shows_the_latest_issue_then_a_chosen_one(
    dashboard_settings, production: Production
) -> None:
    at = open_page("Forecast")
    daily = read_mart(
        production.duckdb_path,
        "select issue_date, horizon_days, target_date, energy_p50_gwh, model_version"
        " from production.consumption_forecast_daily order by issue_date, horizon_days",
    )
    latest = daily[daily["issue_date"].dt.date == AS_OF]
    shown = metrics(at)
    for _, row in latest.iterrows():
        label = f"D+{row['horizon_days']} {row['target_date'].date()}: our energy"
        assert shown[label] == ui.gwh(row["energy_p50_gwh"])
    assert any(latest["model_version"].iloc[0] in m.value for m in at.markdown)
    # The forecast says which forecaster made each hour.
    assert not any("Forecaster: unavailable" in i.value for i in at.info)
    made_by = read_mart(
        production.duckdb_path,
        "select distinct forecaster from production.consumption_forecast"
        f" where issue_date = date '{AS_OF}'",
    )["forecaster"]
    assert set(at.dataframe[0].value["forecaster"]) == set(made_by)

    at.selectbox[0].select(PAST_ISSUES[0]).run()
    chosen = daily[daily["issue_date"].dt.date == PAST_ISSUES[0]]
    shown = metrics(at)
    for _, row in chosen.iterrows():
        label = f"D+{row['horizon_days']} {row['target_date'].date()}: our energy"
        assert shown[label] == ui.gwh(row["energy_p50_gwh"])
    # Actual and RTE J-1 are drawn: the past issue's D+1 is measured.
    d1 = charts(at)[0]
    actual = next(t for t in d1["data"] if t["name"] == "actual")
    assert any(v is not None for v in actual["y"])


def test_forecast_page_says_the_forecaster_is_unavailable_when_the_mart_lacks_it(
    production: Production, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copy = production.copy_to(tmp_path)
    with duckdb.connect(str(copy)) as con:
        for column in ("forecaster", "forecaster_reason"):
            con.execute(f"alter table production.consumption_forecast drop column {column}")
    point_at(monkeypatch, duckdb_path=str(copy), dashboard_cache_seconds="0")
    at = open_page("Forecast")
    assert any("Forecaster: unavailable" in i.value for i in at.info)


def test_forecast_page_shows_the_forecaster_when_the_mart_has_it(
    production: Production, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copy = production.copy_to(tmp_path)
    add_forecaster_columns(copy)
    point_at(monkeypatch, duckdb_path=str(copy), dashboard_cache_seconds="0")
    at = open_page("Forecast")
    assert not any("Forecaster: unavailable" in i.value for i in at.info)
    table = at.dataframe[0].value
    assert set(table["forecaster"]) == {"model", "fallback"}
    hours = read_mart(
        copy,
        f"select count(*) n from production.consumption_forecast where issue_date = date '{AS_OF}'"
        " and horizon_days = 2",
    )["n"].iloc[0]
    assert table[table["forecaster"] == "fallback"]["hours"].tolist() == [hours]


def test_skill_page_headline_is_the_marts_28_day_mape(
    dashboard_settings, production: Production
) -> None:
    at = open_page("Skill")
    expected = read_mart(production.duckdb_path, SKILL_HEADLINE)
    shown = metrics(at)
    for _, row in expected.iterrows():
        h, day = row["horizon_days"], row["date_local"].date()
        assert shown[f"Our hourly MAPE, 28 days to {day} (D+{h})"] == f"{row['mape_28d_pct']:.2f} %"
        rte = shown[f"RTE J-1 hourly MAPE, same hours (D+{h})"]
        assert rte == f"{row['rte_mape_28d_pct']:.2f} %"
        # The daily MAPE of the same 28 days: fully measured days only, ours and RTE's.
        daily = shown[f"Our daily MAPE, 28 days to {day} (D+{h})"]
        assert daily == f"{row['daily_mape_28d_pct']:.2f} %"
        rte_daily = shown[f"RTE J-1 daily MAPE, same days (D+{h})"]
        assert rte_daily == f"{row['rte_daily_mape_28d_pct']:.2f} %"
        better = row["daily_mape_28d_pct"] < row["rte_daily_mape_28d_pct"]
        assert shown[f"Ours vs RTE, daily energy (D+{h})"] == (
            "ours is better" if better else "RTE is better"
        )


def test_energy_mix_page_latest_day_and_hourly_view(
    dashboard_settings, production: Production
) -> None:
    at = open_page("Energy mix")
    latest = read_mart(production.duckdb_path, LATEST_COMPLETE_DAY).iloc[0]
    assert metrics(at)[f"Consumption on {latest['date'].date()}"] == ui.gwh(
        latest["consumption_gwh"]
    )
    # The period ends on the latest complete day by default, not on today's first hours.
    assert at.date_input(key="mix-period").value[1] == latest["date"].date()
    at.radio[0].set_value("Hourly").run()
    assert not at.exception
    titles = [c["layout"]["yaxis"]["title"]["text"] for c in charts(at)]
    assert titles == ["Power (MW)", "CO2 intensity (g/kWh)", "Exchanges (MW)"]


def test_a_period_without_rows_says_so(
    production: Production, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copy = production.copy_to(tmp_path)
    hole = (AS_OF - timedelta(days=20), AS_OF - timedelta(days=14))
    with duckdb.connect(str(copy)) as con:
        con.execute(
            f"delete from production.daily_merged where date between date '{hole[0]}'"
            f" and date '{hole[1]}'"
        )
    point_at(monkeypatch, duckdb_path=str(copy), dashboard_cache_seconds="0")
    at = open_page("Energy mix")
    at.date_input(key="mix-period").set_value(hole).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"No rows in production.daily_merged between {hole[0]} and {hole[1]}."
    ]


def test_gas_page_national_stock(dashboard_settings, production: Production) -> None:
    at = open_page("Gas and temperature")
    national = read_mart(
        production.duckdb_path,
        "select gas_day, stock_gwh, status from production.gas_storage_daily"
        " where level = 'national' order by gas_day desc limit 1",
    ).iloc[0]
    label = f"National stock on {national['gas_day'].date()}" + (
        "" if national["status"] == "reported" else " (estimate)"
    )
    assert metrics(at)[label] == ui.gwh(national["stock_gwh"])


def test_weather_page_offers_each_model_of_the_current_run(
    dashboard_settings, production: Production
) -> None:
    at = open_page("Weather")
    models = read_mart(
        production.duckdb_path,
        "select distinct forecast_model from production.weather_forecast_current_run",
    )["forecast_model"]
    assert sorted(at.selectbox[0].options) == sorted(models)
    at.selectbox[0].select("arome/0025").run()
    assert not at.exception
    assert any("arome/0025" in m.value for m in at.markdown)


def test_pipeline_health_page_names_the_champion(
    dashboard_settings, production: Production
) -> None:
    at = open_page("Pipeline health")
    champion = json.loads((production.root / "lake/models/consumption/champion.json").read_text())
    assert metrics(at)["Champion in use (model of the latest forecast)"] == champion["version"]
    health = at.dataframe[0].value
    assert len(health) == 5 and (health["days_missing"] == 0).all()


def test_pipeline_health_page_shows_each_steps_last_run_and_the_promotions(
    dashboard_settings, production: Production, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The fixture's run went well: in a copy, its weather warned and its forecast failed.
    copy = production.copy_to(tmp_path)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "update production.pipeline_runs set status = 'warning', needs_attention = true,"
            " message = 'weather gap: 2025-03-30 arome/0025/SP1/00' where is_latest"
            " and step_name = 'weather'"
        )
        con.execute(
            "update production.pipeline_runs set status = 'failed', needs_attention = true,"
            " message = 'no champion model' where is_latest and step_name = 'forecast'"
        )
    point_at(monkeypatch, duckdb_path=str(copy), dashboard_cache_seconds="0")
    at = open_page("Pipeline health")
    last = read_mart(
        copy, "select step_name, status, message from production.pipeline_runs where is_latest"
    )
    shown = metrics(at)
    assert {s: shown[f"Last {s} run"] for s in last["step_name"]} == dict(
        last[["step_name", "status"]].values.tolist()
    )
    # A step that warned or failed is spelt out above the tables.
    attention = last[last["status"].isin(["failed", "warning"])]
    assert sorted(attention["step_name"]) == ["forecast", "weather"]
    alerts = [w.value for w in at.warning] + [e.value for e in at.error]
    for step, status, message in attention.values.tolist():
        assert f"Last {step} run {status}: {message}" in alerts
    champion = read_mart(
        production.duckdb_path,
        "select model_version from production.model_promotions where is_champion",
    )["model_version"]
    assert shown["Champion (latest promotion)"] == champion.iloc[0]
    history = [d.value for d in at.dataframe if "decision" in d.value.columns]
    assert len(history) == 1 and history[0]["decision"].tolist() == ["promote"]


def test_pipeline_health_page_before_any_recorded_run_says_what_to_run(
    production: Production, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copy = production.copy_to(tmp_path)
    with duckdb.connect(str(copy)) as con:
        con.execute("drop table production.pipeline_runs")
    point_at(monkeypatch, duckdb_path=str(copy), dashboard_cache_seconds="0")
    at = open_page("Pipeline health")
    assert [e.value for e in at.error] == [
        f"The production table production.pipeline_runs does not exist in DuckDB file {copy}."
    ]
    assert "Champion (latest promotion)" in metrics(at)  # the rest of the page still shows


# --- a fresh install and faults: a message saying what to do, never a traceback --------------


@pytest.mark.parametrize("title", list(PAGES))
def test_a_fresh_install_says_what_to_run(
    settings, title: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    point_at(monkeypatch, duckdb_path=str(tmp_path / "data/warehouse.duckdb"))
    at = open_page(title)
    assert [e.value for e in at.error] == [
        f"There is no warehouse yet: {tmp_path / 'data/warehouse.duckdb'} does not exist."
    ]
    assert any("make run" in i.value for i in at.info)


def test_a_mart_missing_a_column_is_named_on_the_page(
    production: Production, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copy = production.copy_to(tmp_path)
    with duckdb.connect(str(copy)) as con:
        con.execute("alter table production.forecast_skill_daily drop column rte_mape_28d_pct")
    point_at(monkeypatch, duckdb_path=str(copy), dashboard_cache_seconds="0")
    at = open_page("Skill")
    assert [e.value for e in at.error] == [
        "The production table production.forecast_skill_daily lacks the column"
        " rte_mape_28d_pct the dashboard reads."
    ]


def test_unreachable_bigquery_is_named_on_the_page(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    point_at(
        monkeypatch,
        profile="gcp",
        gcp_project="aggregat-test",
        bigquery_api_endpoint=endpoint,
        gcp_timeout_seconds="2",
    )
    at = open_page("Forecast")
    assert len(at.error) == 1 and endpoint in at.error[0].value
    assert "BigQuery cannot be reached" in at.error[0].value
