"""Energy mix: consumption and production by source, shares, CO2 intensity, exchanges."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dashboard import queries, ui
from dashboard.queries import ENERGY_SOURCES


def latest(row) -> None:
    """The newest complete day, in figures."""
    if row.empty:
        st.info("No day has complete consumption yet.")
        return
    day = row.iloc[0]
    left, mid, right = st.columns(3)
    left.metric(f"Consumption on {str(day['date'])[:10]}", ui.gwh(day["consumption_gwh"]))
    mid.metric("Peak", ui.mw(day["consumption_peak_mw"]))
    right.metric("CO2 intensity", f"{day['co2_g_per_kwh']:.0f} g/kWh")


def stacked(frame, x: str, unit: str, name: str, x_title: str, y_title: str) -> None:
    fig = go.Figure()
    for source in ENERGY_SOURCES:
        fig.add_trace(
            go.Scatter(
                x=frame[x], y=frame[f"{source}_{unit}"], name=source, stackgroup="production"
            )
        )
    consumption = "consumption_mw" if unit == "mw" else "consumption_gwh"
    fig.add_trace(
        go.Scatter(x=frame[x], y=frame[consumption], name="consumption", line={"color": "black"})
    )
    fig.update_layout(title="Production by source and consumption")
    columns = [x, consumption, *(f"{s}_{unit}" for s in ENERGY_SOURCES)]
    ui.chart(fig, frame[columns], name, y_title, x_title)


def single(frame, x: str, column: str, title: str, name: str, x_title: str, y_title: str) -> None:
    fig = go.Figure(go.Scatter(x=frame[x], y=frame[column], name=column))
    fig.update_layout(title=title)
    ui.chart(fig, frame[[x, column]], name, y_title, x_title)


def daily(frame) -> None:
    stacked(frame, "date", "gwh", "energy_mix_daily", ui.DAY_LOCAL, "Energy (GWh)")
    fig = go.Figure()
    for source in ENERGY_SOURCES:
        fig.add_trace(
            go.Scatter(
                x=frame["date"], y=frame[f"{source}_share"] * 100, name=source, stackgroup="s"
            )
        )
    fig.update_layout(title="Share of production by source")
    shares = frame[["date", *(f"{s}_share" for s in ENERGY_SOURCES)]]
    ui.chart(fig, shares, "energy_mix_daily_shares", "Share of production (%)", ui.DAY_LOCAL)
    single(
        frame,
        "date",
        "co2_g_per_kwh",
        "CO2 intensity",
        "energy_mix_daily_co2",
        ui.DAY_LOCAL,
        "CO2 intensity (g/kWh)",
    )
    single(
        frame,
        "date",
        "exchanges_gwh",
        "Physical exchanges (positive: imports)",
        "energy_mix_daily_exchanges",
        ui.DAY_LOCAL,
        "Exchanges (GWh)",
    )


def hourly(frame) -> None:
    stacked(frame, "hour_local", "mw", "energy_mix_hourly", ui.TIME_LOCAL, "Power (MW)")
    single(
        frame,
        "hour_local",
        "co2_g_per_kwh",
        "CO2 intensity",
        "energy_mix_hourly_co2",
        ui.TIME_LOCAL,
        "CO2 intensity (g/kWh)",
    )
    single(
        frame,
        "hour_local",
        "exchanges_mw",
        "Physical exchanges (positive: imports)",
        "energy_mix_hourly_exchanges",
        ui.TIME_LOCAL,
        "Exchanges (MW)",
    )


def body() -> None:
    complete = ui.load("latest_complete_day")
    latest(complete)
    first, last = ui.load("daily_span")
    # By default up to the latest complete day: today's first hours would read as a collapse.
    end = queries.as_day(complete["date"].iloc[0]) if len(complete) else last
    start, end = ui.period("mix-period", first, last, 14, default_end=end)
    resolution = st.radio("Resolution", ("Daily", "Hourly"), horizontal=True)
    if resolution == "Daily":
        frame = ui.load("energy_daily", start, end)
        daily(ui.require_rows(frame, queries.DAILY, start, end))
    else:
        frame = ui.load("energy_hourly", start, end)
        hourly(ui.require_rows(frame, queries.ENERGY_HOURLY, start, end))


ui.page("Energy mix", body)
