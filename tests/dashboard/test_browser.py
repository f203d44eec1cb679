"""The dashboard in a real browser: Debian's chromium, headless, driven by Playwright.

`python -m dashboard` is started as `make dashboard` starts it; every page is visited, its
visible numbers compared with the marts, a screenshot saved under the test's temporary folder
and the page's load time printed. With DASHBOARD_DOCS_SCREENSHOT=docs/dashboard-forecast.png
the Forecast page's screenshot is also written there (the README's picture).
The last test runs the pipeline while the dashboard is open and being read.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from dashboard import ui
from flows.settings import get_settings
from tests.dashboard.conftest import (
    AS_OF,
    LATEST_COMPLETE_DAY,
    PAST_ISSUES,
    SKILL_HEADLINE,
    Production,
    RunningDashboard,
    read_mart,
    start_dashboard,
    stop_dashboard,
)

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # root (CI) cannot use the sandbox
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Page title -> URL path (the default page is the app's root).
PAGES = {
    "Forecast": "",
    "Skill": "skill",
    "Energy mix": "energy-mix",
    "Gas and temperature": "gas-and-temperature",
    "Weather": "weather",
    "Pipeline health": "pipeline-health",
}
PAGE_TIMEOUT_MS = 90_000
DOCS_SCREENSHOT = os.environ.get("DASHBOARD_DOCS_SCREENSHOT")


@dataclass
class Visit:
    """What a page showed in the browser."""

    title: str
    seconds: float
    metrics: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    text: str = ""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`;"
            " `make test` does it)"
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def visit(page, base_url: str, title: str) -> Visit:
    """Open a page and wait until Streamlit has finished running it and its charts are drawn."""
    started = time.monotonic()
    page.goto(f"{base_url}/{PAGES[title]}", wait_until="domcontentloaded")
    return visit_current(page, title, started)


def visit_current(page, title: str, started: float) -> Visit:
    """What the page shows once its script has run and its charts are drawn."""
    page.wait_for_selector(f"h1:has-text('{title}')", timeout=PAGE_TIMEOUT_MS)
    # The page's last line is written once its script is done; then the charts draw.
    page.wait_for_selector(f"text={ui.SOURCE_PREFIX}", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
        ".every(chart => chart.querySelector('.main-svg'))",
        timeout=PAGE_TIMEOUT_MS,
    )
    seconds = time.monotonic() - started
    metrics = {}
    for metric in page.query_selector_all("[data-testid='stMetric']"):
        label = metric.query_selector("[data-testid='stMetricLabel']").inner_text().strip()
        metrics[label] = metric.query_selector("[data-testid='stMetricValue']").inner_text().strip()
    return Visit(
        title=title,
        seconds=seconds,
        metrics=metrics,
        errors=[
            e.inner_text() for e in page.query_selector_all("[data-testid='stAlertContentError']")
        ],
        exceptions=[e.inner_text() for e in page.query_selector_all("[data-testid='stException']")],
        text=page.inner_text("[data-testid='stMain']"),
    )


def choose_issue(page, base_url: str, issue) -> Visit:
    """On the Forecast page, pick another issue date in its select box, as a user would."""
    visit(page, base_url, "Forecast")
    page.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name=issue.isoformat()).click()
    # The new issue's D+1 metric replaces the old one once the page has rerun that far.
    target = (issue + timedelta(days=1)).isoformat()
    page.wait_for_selector(f"text=D+1 {target}: our energy", timeout=PAGE_TIMEOUT_MS)
    return visit_current(page, "Forecast", time.monotonic())


@pytest.fixture
def dashboard(production: Production, tmp_path: Path) -> Iterator[RunningDashboard]:
    running = start_dashboard({"AGGREGAT_DUCKDB_PATH": str(production.duckdb_path)}, tmp_path)
    try:
        yield running
    finally:
        stop_dashboard(running)


def test_every_page_in_chromium_shows_the_marts_numbers(
    browser, dashboard: RunningDashboard, production: Production, tmp_path: Path
) -> None:
    # Tall enough to show a page's first charts (Streamlit scrolls inside its own pane).
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    visits = {}
    for title in PAGES:
        visits[title] = visit(page, dashboard.url, title)
        shot = tmp_path / f"{PAGES[title] or 'forecast'}.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
    chosen = choose_issue(page, dashboard.url, PAST_ISSUES[1])
    if DOCS_SCREENSHOT:
        page.screenshot(path=DOCS_SCREENSHOT, clip={"x": 0, "y": 0, "width": 1400, "height": 1100})
    print("\npage load times (s): " + ", ".join(f"{t} {v.seconds:.2f}" for t, v in visits.items()))
    print(f"screenshots: {tmp_path}")
    for v in visits.values():
        assert not v.exceptions and not v.errors, (v.title, v.exceptions, v.errors)

    db = production.duckdb_path
    latest = read_mart(db, LATEST_COMPLETE_DAY).iloc[0]
    energy = visits["Energy mix"].metrics
    assert energy[f"Consumption on {latest['date'].date()}"] == ui.gwh(latest["consumption_gwh"])

    skill = read_mart(db, SKILL_HEADLINE).iloc[0]  # D+1
    shown = visits["Skill"].metrics
    day = skill["date_local"].date()
    assert shown[f"Our hourly MAPE, 28 days to {day} (D+1)"] == f"{skill['mape_28d_pct']:.2f} %"
    assert shown["RTE J-1 hourly MAPE, same hours (D+1)"] == f"{skill['rte_mape_28d_pct']:.2f} %"
    daily = f"{skill['daily_mape_28d_pct']:.2f} %"
    assert shown[f"Our daily MAPE, 28 days to {day} (D+1)"] == daily
    rte_daily = f"{skill['rte_daily_mape_28d_pct']:.2f} %"
    assert shown["RTE J-1 daily MAPE, same days (D+1)"] == rte_daily

    forecast = read_mart(
        db,
        "select target_date, energy_p50_gwh, model_version from production.consumption_forecast_daily"
        f" where issue_date = date '{AS_OF}' and horizon_days = 1",
    ).iloc[0]
    label = f"D+1 {forecast['target_date'].date()}: our energy"
    assert visits["Forecast"].metrics[label] == ui.gwh(forecast["energy_p50_gwh"])
    assert forecast["model_version"] in visits["Forecast"].text
    assert "Forecaster of each hour" in visits["Forecast"].text

    gas = read_mart(
        db,
        "select gas_day, stock_gwh from production.gas_storage_daily"
        " where level = 'national' order by gas_day desc limit 1",
    ).iloc[0]
    assert ui.gwh(gas["stock_gwh"]) in visits["Gas and temperature"].metrics.values()
    run = read_mart(db, "select max(run_at) r from production.weather_forecast_current_run")[
        "r"
    ].iloc[0]
    assert f"{str(run)[:16]} UTC" in visits["Weather"].text
    # A past issue chosen in the browser: its own energy, measured by then.
    past = read_mart(
        db,
        "select target_date, energy_p50_gwh from production.consumption_forecast_daily"
        f" where issue_date = date '{PAST_ISSUES[1]}' and horizon_days = 1",
    ).iloc[0]
    label = f"D+1 {past['target_date'].date()}: our energy"
    assert chosen.metrics[label] == ui.gwh(past["energy_p50_gwh"])
    version = forecast["model_version"]
    assert visits["Pipeline health"].metrics["Champion in use (model of the latest forecast)"] == (
        version
    )
    health = visits["Pipeline health"].metrics
    last = read_mart(
        db, "select step_name, status from production.pipeline_runs where is_latest"
    ).values.tolist()
    assert last and {step: health[f"Last {step} run"] for step, _ in last} == dict(last)
    champion = read_mart(
        db, "select model_version from production.model_promotions where is_champion"
    )["model_version"]
    assert health["Champion (latest promotion)"] == champion.iloc[0] == version


def test_the_pipeline_runs_while_the_dashboard_is_read(
    browser, production: Production, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` (in-process, as tests/test_end_to_end.py runs it) with the app being read."""
    from flows.pipeline import run_cli

    shutil.copytree(production.root / "lake", tmp_path / "lake")
    copy = production.copy_to(tmp_path)
    env = production.env | {
        "AGGREGAT_LAKE_URL": str(tmp_path / "lake"),
        "AGGREGAT_DUCKDB_PATH": str(copy),
        "AGGREGAT_DBT_ARTIFACTS_DIR": str(tmp_path / "dbt"),
    }
    before = read_mart(copy, "select max(created_at) c from production.consumption_forecast")["c"][
        0
    ]
    running = start_dashboard(env | {"AGGREGAT_DASHBOARD_CACHE_SECONDS": "0"}, tmp_path)
    done = threading.Event()
    visits: list[Visit] = []
    failures: list[BaseException] = []

    def read_while_running() -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as p:
                chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = chromium.new_page()
                while not done.is_set():
                    for title in PAGES:
                        visits.append(visit(page, running.url, title))
                chromium.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    reader = threading.Thread(target=read_while_running)
    try:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        get_settings.cache_clear()
        reader.start()
        time.sleep(5)  # the reader is on its pages before the run starts
        # The fixture's lake is unchanged, so only --force rebuilds while the pages are read.
        code = run_cli(as_of=AS_OF, steps=None, force=True)
    finally:
        done.set()
        reader.join(timeout=300)
        get_settings.cache_clear()
        stop_dashboard(running)
    assert not failures, failures
    assert code == 0
    after = read_mart(copy, "select max(created_at) c from production.consumption_forecast")["c"][0]
    assert after > before  # the run really wrote the warehouse the dashboard was reading
    busy = [v for v in visits if any("warehouse is busy" in e for e in v.errors)]
    shown = [v for v in visits if not v.errors]
    print(f"\n{len(visits)} page loads during the run: {len(shown)} with data, {len(busy)} busy")
    assert all(not v.exceptions for v in visits)
    # Every error a reader saw was the busy message, and pages showed data during the run.
    assert all(not v.errors or v in busy for v in visits), [v.errors for v in visits]
    assert len(shown) >= len(PAGES)
