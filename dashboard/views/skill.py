"""Skill: rolling MAPE and bias of ours against RTE's J-1, with the 28-day headline."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dashboard import queries, ui


def verdict(ours: float, rte: float) -> str:
    """Which of the two errors is lower, in words."""
    if rte != rte or ours != ours:
        return "n/a"
    return "ours is better" if ours < rte else "RTE is better" if rte < ours else "tied"


def headline(rows) -> None:
    """Ours vs RTE over the 28 days to the latest fully measured day, per horizon."""
    if rows.empty:
        st.info("No fully measured day has a forecast yet: the headline needs one.")
        return
    for _, row in rows.iterrows():
        day = str(row["date_local"])[:10]
        h = int(row["horizon_days"])
        ours, rte = row["mape_28d_pct"], row["rte_mape_28d_pct"]
        left, mid, right = st.columns(3)
        left.metric(f"Our hourly MAPE, 28 days to {day} (D+{h})", ui.pct(ours))
        mid.metric(f"RTE J-1 hourly MAPE, same hours (D+{h})", ui.pct(rte))
        right.metric(f"Ours vs RTE over the last 28 days (D+{h})", verdict(ours, rte))
        daily, rte_daily = row["daily_mape_28d_pct"], row["rte_daily_mape_28d_pct"]
        left, mid, right = st.columns(3)
        left.metric(f"Our daily MAPE, 28 days to {day} (D+{h})", ui.pct(daily))
        mid.metric(f"RTE J-1 daily MAPE, same days (D+{h})", ui.pct(rte_daily))
        right.metric(f"Ours vs RTE, daily energy (D+{h})", verdict(daily, rte_daily))


def lines(frame, columns: dict[str, str], title: str, name: str, y_title: str) -> None:
    fig = go.Figure()
    for column, label in columns.items():
        dash = "dash" if column.startswith("rte_") else None
        fig.add_trace(
            go.Scatter(x=frame["date_local"], y=frame[column], name=label, line={"dash": dash})
        )
    fig.update_layout(title=title)
    ui.chart(fig, frame[["date_local", "horizon_days", *columns]], name, y_title, ui.DAY_LOCAL)


def body() -> None:
    headline(ui.load("skill_headline"))
    first, last = ui.load("skill_span")
    start, end = ui.period("skill-period", first, last, 56)
    frame = ui.require_rows(ui.load("skill_daily", start, end), queries.SKILL_DAILY, start, end)
    horizon = st.radio(
        "Horizon",
        sorted(frame["horizon_days"].unique()),
        format_func=lambda h: f"D+{h}",
        horizontal=True,
    )
    rows = frame[frame["horizon_days"] == horizon]
    st.caption(
        "Hourly MAPE: mean absolute % error of the hours; daily MAPE: absolute % error of the"
        " day's energy, fully measured days only. Rolling windows span 7 or 28 calendar days:"
        " hourly measures weigh each measured hour, daily measures each fully measured day."
    )
    lines(
        rows,
        {
            "mape_7d_pct": "ours, 7 days",
            "rte_mape_7d_pct": "RTE J-1, 7 days",
            "mape_28d_pct": "ours, 28 days",
            "rte_mape_28d_pct": "RTE J-1, 28 days",
        },
        "Rolling hourly MAPE",
        f"skill_rolling_mape_d{horizon}",
        "MAPE (%)",
    )
    lines(
        rows,
        {
            "daily_mape_7d_pct": "ours, 7 days",
            "rte_daily_mape_7d_pct": "RTE J-1, 7 days",
            "daily_mape_28d_pct": "ours, 28 days",
            "rte_daily_mape_28d_pct": "RTE J-1, 28 days",
        },
        "Rolling daily MAPE (error of each fully measured day's energy)",
        f"skill_rolling_daily_mape_d{horizon}",
        "MAPE (%)",
    )
    lines(
        rows,
        {"mape_pct": "ours", "rte_mape_pct": "RTE J-1"},
        "Hourly MAPE of each day",
        f"skill_daily_hourly_mape_d{horizon}",
        "MAPE (%)",
    )
    lines(
        rows,
        {"energy_ape_pct": "ours", "rte_energy_ape_pct": "RTE J-1"},
        "Daily MAPE (error of the day's energy)",
        f"skill_daily_energy_ape_d{horizon}",
        "Absolute error (%)",
    )
    lines(
        rows,
        {
            "bias_7d_mw": "ours, 7 days",
            "rte_bias_7d_mw": "RTE J-1, 7 days",
            "bias_28d_mw": "ours, 28 days",
            "rte_bias_28d_mw": "RTE J-1, 28 days",
        },
        "Rolling bias (forecast − actual)",
        f"skill_rolling_bias_d{horizon}",
        "Bias (MW)",
    )
    lines(
        rows,
        {
            "daily_bias_7d_gwh": "ours, 7 days",
            "rte_daily_bias_7d_gwh": "RTE J-1, 7 days",
            "daily_bias_28d_gwh": "ours, 28 days",
            "rte_daily_bias_28d_gwh": "RTE J-1, 28 days",
        },
        "Rolling daily energy bias (forecast − actual), fully measured days",
        f"skill_rolling_daily_bias_d{horizon}",
        "Bias (GWh per day)",
    )


ui.page("Skill", body)
