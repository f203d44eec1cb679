"""The aggregat dashboard: `streamlit run dashboard/app.py` (or `make dashboard`).

Six pages over the production marts; every read goes through dashboard/queries.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts only dashboard/ on the path; the pages import the
# project's packages (dashboard, flows) from the project root.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

VIEWS = Path(__file__).resolve().parent / "views"
PAGES = (
    ("forecast.py", "Forecast", "forecast"),
    ("skill.py", "Skill", "skill"),
    ("energy_mix.py", "Energy mix", "energy-mix"),
    ("gas_temperature.py", "Gas and temperature", "gas-and-temperature"),
    ("weather.py", "Weather", "weather"),
    ("pipeline_health.py", "Pipeline health", "pipeline-health"),
)

st.set_page_config(page_title="aggregat", layout="wide")
navigation = st.navigation(
    [
        st.Page(VIEWS / file, title=title, url_path=url, default=(url == "forecast"))
        for file, title, url in PAGES
    ]
)
navigation.run()
