"""Weather: the current ARPEGE/AROME run per region, and forecast-vs-observed temperature error."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dashboard import queries, ui

VARIABLES = {
    "t2m_c": ("2 m temperature", "Temperature (°C)"),
    "wind10m_ms": ("10 m wind speed", "Wind speed (m/s)"),
    "ssrd_wh_m2": ("Short-wave radiation over the step", "Radiation (Wh/m²)"),
    "tcc_pct": ("Total cloud cover", "Cloud cover (%)"),
}


def current_run() -> None:
    run = ui.load("weather_current_run")
    models = sorted(run["forecast_model"].unique())
    left, right = st.columns(2)
    model = left.selectbox("Forecast model", models)
    rows = run[run["forecast_model"] == model]
    regions = sorted(rows["region_name"].unique(), key=lambda r: (r != "France", r))
    region = right.selectbox("Region", regions)
    rows = rows[rows["region_name"] == region]
    st.markdown(f"Run **{str(rows['run_at'].iloc[0])[:16]} UTC** of **{model}**, {region}")
    first, last = queries.as_day(rows["valid_at"].min()), queries.as_day(rows["valid_at"].max())
    start, end = ui.period("weather-period", first, last, (last - first).days + 1)
    shown = rows[(rows["valid_at"].dt.date >= start) & (rows["valid_at"].dt.date <= end)]
    safe = model.replace("/", "_")
    for column, (title, unit) in VARIABLES.items():
        fig = go.Figure(go.Scatter(x=shown["valid_at"], y=shown[column], name=title))
        fig.update_layout(title=title)
        data = shown[["forecast_model", "run_at", "valid_at", "region_name", column]]
        ui.chart(fig, data, f"weather_{safe}_{column}", unit, "Valid time (UTC)")


def temperature_error() -> None:
    st.header("Forecast minus observed daily mean temperature")
    try:
        first, last = ui.load("weather_error_span")
    except queries.DashboardError as exc:
        ui.show_error(exc)
        return
    start, end = ui.period("weather-error-period", first, last, 30)
    errors = ui.require_rows(
        ui.load("weather_error", start, end), queries.WEATHER_ERROR, start, end
    )
    left, right = st.columns(2)
    model = left.selectbox("Model", sorted(errors["forecast_model"].unique()), key="err-model")
    regions = sorted(errors["region_name"].unique(), key=lambda r: (r != "France", r))
    region = right.selectbox("Region", regions, key="err-region")
    rows = errors[(errors["forecast_model"] == model) & (errors["region_name"] == region)]
    fig = go.Figure()
    for lead, by_lead in rows.groupby("lead_days"):
        fig.add_trace(
            go.Scatter(
                x=by_lead["date"],
                y=by_lead["error_tmean_c"],
                name=f"lead {lead} d",
                mode="lines+markers",
            )
        )
    fig.update_layout(title="Error of the daily mean (positive: forecast too warm)")
    safe = model.replace("/", "_")
    ui.chart(fig, rows, f"weather_error_{safe}", "Error (°C)", ui.DAY_LOCAL)


def body() -> None:
    current_run()
    temperature_error()


ui.page("Weather", body)
