"""Pipeline health: per dataset the latest day, its freshness and gaps; the last runs of each
step; the champion model and its promotion history."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import queries, ui


def freshness(health) -> None:
    late = health[health["status"] == "late"]
    left, right = st.columns(2)
    left.metric("Datasets late", f"{len(late)} of {len(health)}")
    right.metric("Days missing (all datasets)", f"{int(health['days_missing'].fillna(0).sum())}")
    st.dataframe(health, hide_index=True)
    st.caption(
        "Latest day: the newest day each mart holds; late when more than its cadence plus a"
        f" day of publication delay ({queries.PUBLICATION_SLACK_HOURS} h) has passed since it"
        " ended. Last loaded: when the step that feeds the mart last wrote it (UTC)."
    )


def gaps(days) -> None:
    first, last = queries.as_day(days["day"].min()), queries.as_day(days["day"].max())
    start, end = ui.period("health-period", first, last, 90)
    shown = days[(days["day"].dt.date >= start) & (days["day"].dt.date <= end)]
    fig = go.Figure(
        go.Scatter(x=shown["day"], y=shown["dataset"], mode="markers", marker={"symbol": "square"})
    )
    fig.update_layout(title="Days present per dataset (a hole is a gap)")
    ui.chart(fig, shown, "pipeline_days_present", "Dataset", ui.DAY_LOCAL)


# What a run's status looks like on the page: failures and warnings stand out.
STATUS_MARKS = {"failed": "✖ failed", "warning": "⚠ warning", "skipped": "– skipped", "ok": "✔ ok"}
RUN_COLUMNS = [
    "step_name",
    "status",
    "started_at",
    "ended_at",
    "duration_seconds",
    "row_count",
    "day_partitions",
    "as_of",
    "flow_name",
    "message",
    "run_id",
]


def shown_or_error(query: str) -> pd.DataFrame | None:
    """A query's rows, or None once its error is on the page (the rest of the page still shows)."""
    try:
        return ui.load(query)
    except queries.DashboardError as exc:
        ui.show_error(exc)
        return None


def runs() -> None:
    st.header("Runs")
    recent = shown_or_error("step_runs")
    if recent is None:
        return
    latest = recent[recent["is_latest"]]
    for column, (_, run) in zip(st.columns(len(latest)), latest.iterrows(), strict=True):
        column.metric(
            f"Last {run['step_name']} run",
            run["status"],
            help=f"{run['flow_name']}, started {str(run['started_at'])[:19]} UTC: {run['message']}",
        )
    attention = latest[latest["needs_attention"]]
    for _, run in attention.iterrows():
        show = st.error if run["status"] == "failed" else st.warning
        show(f"Last {run['step_name']} run {run['status']}: {run['message']}")
    marked = recent.assign(status=recent["status"].map(lambda s: STATUS_MARKS.get(s, s)))
    st.subheader("Last run of each step")
    st.dataframe(marked[marked["is_latest"]][RUN_COLUMNS], hide_index=True)
    st.subheader("Recent runs (the last ten of each step)")
    st.dataframe(marked[[*RUN_COLUMNS[:1], "runs_ago", *RUN_COLUMNS[1:]]], hide_index=True)
    st.caption(
        "From the summary every run writes to the lake (the daily pipeline's steps, and each"
        " flow deployed on its own); times in UTC. Find a run in Prefect by its run id."
    )


def forecast_models() -> None:
    st.subheader("Models that issued the forecasts")
    history = shown_or_error("model_history")
    if history is None:
        return
    current = history.sort_values(["last_issue", "first_issue"]).iloc[-1]
    st.metric(
        "Champion in use (model of the latest forecast)",
        current["model_version"],
        help=f"issued {current['issues']} days, last on {str(current['last_issue'])[:10]}",
    )
    st.dataframe(history, hide_index=True)


def champion() -> None:
    st.subheader("Promotion history")
    decisions = shown_or_error("promotions")
    if decisions is None:
        return
    current = decisions[decisions["is_champion"]]
    if current.empty:
        st.warning("No challenger was ever promoted: there is no champion model.")
    else:
        row = current.iloc[0]
        st.metric(
            "Champion (latest promotion)",
            row["model_version"],
            help=f"promoted {str(row['champion_since'])[:19]} UTC: {row['reason']}",
        )
    st.dataframe(decisions, hide_index=True)
    st.caption(
        "Each training scores its challenger and the champion on the same held-out weeks"
        " (MAPE, %) and decides: promote, keep the champion, or refuse a challenger that could"
        " not be scored. The registry in the lake keeps each decision beside the models."
    )


def models() -> None:
    st.header("Models")
    champion()
    forecast_models()


def body() -> None:
    freshness(ui.load("feed_health"))
    gaps(ui.load("feed_days"))
    runs()
    models()


ui.page("Pipeline health", body)
