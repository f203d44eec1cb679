"""Pipeline health: per dataset the latest day, its freshness and gaps; the models in use."""

from __future__ import annotations

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


def models() -> None:
    st.header("Models")
    try:
        history = ui.load("model_history")
    except queries.DashboardError as exc:
        ui.show_error(exc)
        return
    current = history.sort_values(["last_issue", "first_issue"]).iloc[-1]
    st.metric(
        "Champion in use (model of the latest forecast)",
        current["model_version"],
        help=f"issued {current['issues']} days, last on {str(current['last_issue'])[:10]}",
    )
    st.dataframe(history, hide_index=True)
    st.caption(
        "Promotion decisions (challenger and champion scores) are kept beside the models in the"
        " lake registry (models/consumption/decisions/) and in the Prefect artifact"
        " `consumption-model-decision`; the step-by-step run summaries are the Prefect artifact"
        " `daily-pipeline`. Neither is a production table yet, so this page shows what the"
        " marts prove: which model issued which days, and when each step's output last landed."
    )


def body() -> None:
    freshness(ui.load("feed_health"))
    gaps(ui.load("feed_days"))
    models()


ui.page("Pipeline health", body)
