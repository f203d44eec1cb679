"""Forecast: one issue's D+1 and D+2 hourly, against RTE's J-1 and the actual."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dashboard import ui


def hourly_chart(hours, horizon: int) -> None:
    """Actual, our P50 inside its P10–P90 band, and RTE's J-1, for one horizon."""
    rows = hours[hours["horizon_days"] == horizon].copy()
    if rows.empty:
        st.info(f"This issue has no D+{horizon} hours.")
        return
    x = rows["target_hour_local"]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=x, y=rows["p90_mw"], name="our P90", line={"width": 0}, showlegend=False)
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=rows["p10_mw"],
            name="our P10–P90",
            fill="tonexty",
            line={"width": 0},
            fillcolor="rgba(31,119,180,0.2)",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=rows["p50_mw"],
            name="our P50",
            line={"color": "#1f77b4"},
            customdata=rows[["forecaster"]].astype(str),
            hovertemplate="%{y:,.0f} MW (forecaster: %{customdata[0]})",
        )
    )
    fig.add_trace(go.Scatter(x=x, y=rows["rte_j1_mw"], name="RTE J-1", line={"dash": "dash"}))
    fig.add_trace(go.Scatter(x=x, y=rows["actual_mw"], name="actual", line={"color": "black"}))
    target = rows["target_date"].iloc[0]
    fig.update_layout(title=f"D+{horizon}: {str(target)[:10]}")
    ui.chart(
        fig,
        rows,
        f"forecast_hourly_{str(rows['issue_date'].iloc[0])[:10]}_d{horizon}",
        "Consumption (MW)",
        ui.TIME_LOCAL,
    )


def forecaster_table(hours) -> None:
    """Which forecaster produced the hours, or that the mart does not say yet."""
    if hours["forecaster"].isna().all():
        st.info(
            "Forecaster: unavailable — the forecast table has no `forecaster` column yet"
            " (every hour comes from the model version above)."
        )
        return
    counts = (
        hours.fillna({"forecaster": "unavailable", "forecaster_reason": ""})
        .groupby(["horizon_days", "forecaster", "forecaster_reason"], as_index=False)
        .size()
        .rename(columns={"size": "hours"})
    )
    st.subheader("Forecaster of each hour")
    st.dataframe(counts, hide_index=True)


def daily_chart(days) -> None:
    """Daily energy of ours (with the band), RTE's J-1 and the actual."""
    if days.empty:
        st.info("No daily energy for this issue.")
        return
    labels = [
        f"D+{h} ({str(d)[:10]})"
        for h, d in zip(days["horizon_days"], days["target_date"], strict=True)
    ]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=labels,
            y=days["energy_p50_gwh"],
            name="ours (P50, P10–P90 as bars)",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": days["energy_p90_gwh"] - days["energy_p50_gwh"],
                "arrayminus": days["energy_p50_gwh"] - days["energy_p10_gwh"],
            },
        )
    )
    fig.add_trace(go.Bar(x=labels, y=days["rte_j1_energy_gwh"], name="RTE J-1"))
    fig.add_trace(go.Bar(x=labels, y=days["actual_energy_gwh"], name="actual"))
    fig.update_layout(barmode="group", title="Daily energy (measured hours only for RTE/actual)")
    ui.chart(fig, days, "forecast_daily", "Energy (GWh)", "Target day (Europe/Paris)")


def body() -> None:
    issues = ui.load("forecast_issues")
    issue = st.selectbox("Issue date", issues, index=0, format_func=lambda d: d.isoformat())
    hours = ui.load("forecast_hourly", issue)
    days = ui.load("forecast_daily", issue)
    versions = ", ".join(sorted(hours["model_version"].dropna().unique()))
    st.markdown(f"Issued **{issue}** by model version **{versions}**")
    columns = st.columns(max(len(days), 1))
    for column, (_, day) in zip(columns, days.iterrows(), strict=False):
        column.metric(
            f"D+{day['horizon_days']} {str(day['target_date'])[:10]}: our energy",
            ui.gwh(day["energy_p50_gwh"]),
            help=f"RTE J-1 {ui.gwh(day['rte_j1_energy_gwh'])}, actual "
            f"{ui.gwh(day['actual_energy_gwh'])} over the measured hours"
            f" ({0 if day['measured_hours'] != day['measured_hours'] else int(day['measured_hours'])})",
        )
    for horizon in sorted(hours["horizon_days"].unique()):
        hourly_chart(hours, int(horizon))
    forecaster_table(hours)
    daily_chart(days)


ui.page("Forecast", body)
