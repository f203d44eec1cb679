"""What every page shares: cached reads, the period selector, charts with their download, errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import queries
from flows.settings import Settings, get_settings

TIME_LOCAL = "Local time (Europe/Paris)"
TIME_UTC = "Time (UTC)"
DAY_LOCAL = "Day (Europe/Paris)"
SOURCE_PREFIX = "Production tables read from"


def _settings_key(settings: Settings) -> str:
    """What tells two warehouses apart (caches must not mix them)."""
    return "|".join(
        str(v)
        for v in (
            settings.profile,
            settings.duckdb_path,
            settings.gcp_project,
            settings.bigquery_api_endpoint,
            settings.production_dataset,
            settings.forecast_table,
            settings.forecast_daily_table,
        )
    )


@st.cache_resource(show_spinner=False)
def _reader(key: str, _settings: Settings) -> queries.MartReader:
    return queries.MartReader(_settings)


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(name: str, args: tuple, key: str, bucket: int, _settings: Settings) -> Any:
    return getattr(queries, name)(_reader(key, _settings), *args)


def load(name: str, *args: Any) -> Any:
    """`queries.<name>(reader, *args)`, reused for `dashboard_cache_seconds`."""
    settings = get_settings()
    key = _settings_key(settings)
    ttl = settings.dashboard_cache_seconds
    if ttl <= 0:
        return getattr(queries, name)(_reader(key, settings), *args)
    # The time bucket is part of the key: results expire together every `ttl` seconds.
    return _cached(name, args, key, int(time.time() // ttl), settings)


def page(title: str, body: Callable[[], None]) -> None:
    """A page: its title, then its body, or what is wrong and what to do, never a traceback."""
    st.title(title)
    try:
        body()
    except queries.DashboardError as exc:
        show_error(exc)
    # Last on every page, error or not: what was read and when (a browser waits for it too).
    where = _reader(_settings_key(get_settings()), get_settings()).where
    st.caption(f"{SOURCE_PREFIX} {where}, {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")


def show_error(exc: queries.DashboardError) -> None:
    """The error's message and the hint on what to run."""
    st.error(exc.message)
    if exc.hint:
        st.info(exc.hint)


def period(
    key: str, first: date, last: date, default_days: int, default_end: date | None = None
) -> tuple[date, date]:
    """A period within [first, last], by default the `default_days` days to `default_end`."""
    end = min(max(default_end or last, first), last)
    start = max(first, end - timedelta(days=default_days - 1))
    picked = st.date_input(
        "Period", (start, end), min_value=first, max_value=last, key=key, format="YYYY-MM-DD"
    )
    if isinstance(picked, tuple | list) and len(picked) == 2:
        return picked[0], picked[1]
    st.info("Pick the last day of the period too.")
    st.stop()
    raise AssertionError("unreachable")


def require_rows(frame: pd.DataFrame, mart: queries.Mart, start: date, end: date) -> pd.DataFrame:
    """The frame, or a clear message when the period holds no rows."""
    if frame.empty:
        table = f"{get_settings().production_dataset}.{mart.name}"
        raise queries.DashboardError(
            f"No rows in {table} between {start} and {end}.", "Pick another period."
        )
    return frame


def chart(fig: go.Figure, data: pd.DataFrame, name: str, y_title: str, x_title: str) -> None:
    """A chart with units in its axis titles, and the download of exactly the data it shows."""
    fig.update_layout(
        yaxis_title=y_title,
        xaxis_title=x_title,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    st.plotly_chart(fig, key=f"chart-{name}")
    st.download_button(
        f"Download the data of this chart ({name}.csv)",
        data.to_csv(index=False).encode(),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"download-{name}",
        on_click="ignore",
    )


def gwh(value: float | None) -> str:
    """Energy as the pages print it."""
    return "n/a" if value is None or pd.isna(value) else f"{value:,.1f} GWh"


def pct(value: float | None) -> str:
    """A percentage as the pages print it."""
    return "n/a" if value is None or pd.isna(value) else f"{value:.2f} %"


def mw(value: float | None) -> str:
    """Power as the pages print it."""
    return "n/a" if value is None or pd.isna(value) else f"{value:,.0f} MW"
