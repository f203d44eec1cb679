"""Gas and temperature: storage stock and fill levels against national and regional temperature."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard import queries, ui


def marked(gas):
    """The rows with their estimates flagged, as the mart's status columns say: a stock that
    is carried forward (or lacks groups), a fill level against a capacity that is not a
    published figure (the highest stock seen, or a mix)."""
    gas = gas.copy()
    gas["stock_estimate"] = gas["status"] != "reported"
    gas["fill_level_estimate"] = gas["capacity_basis"] != "seed"
    return gas


def national_chart(national, temps) -> None:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    estimated = national[national["stock_estimate"]]
    fig.add_trace(go.Scatter(x=national["gas_day"], y=national["stock_gwh"], name="stock"))
    fig.add_trace(
        go.Scatter(
            x=estimated["gas_day"],
            y=estimated["stock_gwh"],
            name="stock (estimate: groups carried forward or missing)",
            mode="markers",
            marker={"symbol": "x", "color": "orange"},
        )
    )
    fig.add_trace(
        go.Scatter(x=temps["date"], y=temps["tmean_c"], name="national mean temperature"),
        secondary_y=True,
    )
    fig.update_yaxes(title_text="Temperature (°C)", secondary_y=True)
    fig.update_layout(title="National gas stock against temperature")
    data = national.merge(
        temps[["date", "tmean_c"]], left_on="gas_day", right_on="date", how="outer"
    )
    ui.chart(fig, data, "gas_national_vs_temperature", "Gas stock (GWh)", "Gas day")


def fill_chart(groups) -> None:
    fig = go.Figure()
    for name, rows in groups.groupby("storage_group"):
        basis = rows["capacity_basis"].iloc[-1]
        label = f"{name}" + (
            " (estimate: capacity = highest stock seen)" if basis != "seed" else ""
        )
        fig.add_trace(
            go.Scatter(
                x=rows["gas_day"],
                y=rows["fill_level_pct"],
                name=label,
                line={"dash": "dot" if basis != "seed" else None},
            )
        )
    fig.update_layout(title="Fill level per storage group")
    ui.chart(fig, groups, "gas_fill_level_by_group", "Fill level (%)", "Gas day")


def temperature_chart(temps) -> None:
    regions = {c.removeprefix("tmean_c_").replace("_", " "): c for c in queries.REGION_COLUMNS}
    chosen = st.multiselect(
        "Regions", list(regions), default=["ile de france", "provence alpes cote d azur"]
    )
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=temps["date"], y=temps["tmax_c"], name="national max", line={"width": 0})
    )
    fig.add_trace(
        go.Scatter(
            x=temps["date"],
            y=temps["tmin_c"],
            name="national min–max",
            fill="tonexty",
            line={"width": 0},
        )
    )
    fig.add_trace(go.Scatter(x=temps["date"], y=temps["tmean_c"], name="national mean"))
    for region in chosen:
        fig.add_trace(go.Scatter(x=temps["date"], y=temps[regions[region]], name=region))
    fig.update_layout(title="Observed temperature, national and regional (daily mean)")
    columns = ["date", "tmin_c", "tmean_c", "tmax_c", *(regions[r] for r in chosen)]
    ui.chart(fig, temps[columns], "temperature_daily", "Temperature (°C)", ui.DAY_LOCAL)


def body() -> None:
    first, last = ui.load("gas_span")
    start, end = ui.period("gas-period", first, last, 90)
    gas = marked(ui.require_rows(ui.load("gas_storage", start, end), queries.GAS, start, end))
    temps = ui.load("temperatures", start, end)
    national = gas[gas["level"] == "national"]
    groups = gas[gas["level"] == "group"]
    latest = national.iloc[-1] if len(national) else None
    if latest is not None:
        left, right = st.columns(2)
        left.metric(
            f"National stock on {str(latest['gas_day'])[:10]}"
            + (" (estimate)" if latest["stock_estimate"] else ""),
            ui.gwh(latest["stock_gwh"]),
        )
        right.metric(
            "National fill level" + (" (estimate)" if latest["fill_level_estimate"] else ""),
            ui.pct(latest["fill_level_pct"]),
        )
    national_chart(national, temps)
    fill_chart(groups)
    temperature_chart(temps)


ui.page("Gas and temperature", body)
