"""ODRÉ fixtures: a fake exports server with synthetic data, settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from flows.lake import LocalLake
from flows.odre.client import OdreClient
from tests.fakes.odre_server import FakeOdre, synthetic_data

# Covers a spring-forward (2025-03-30) day; as_of in tests is inside the span.
DATA_START = date(2025, 2, 1)
DATA_END = date(2025, 4, 10)
AS_OF = date(2025, 4, 8)


@pytest.fixture(scope="session")
def odre_data():
    """Synthetic source frames, generated once (the server copies what it serves)."""
    return synthetic_data(DATA_START, DATA_END)


@pytest.fixture
def fake_odre(odre_data) -> Iterator[FakeOdre]:
    """A fake ODRÉ server on 127.0.0.1 with fresh faults and request logs."""
    with FakeOdre({k: v.copy() for k, v in odre_data.items()}) as server:
        yield server


@pytest.fixture
def odre_settings(settings, fake_odre: FakeOdre, monkeypatch: pytest.MonkeyPatch):
    """Settings on a temporary lake, the fake server, tiny backoffs and short windows."""
    from flows.settings import Settings, get_settings

    env = {
        "AGGREGAT_ODRE_BASE_URL": fake_odre.url,
        "AGGREGAT_HISTORY_START": "2025-03-01",
        "AGGREGAT_ODRE_BACKOFF_SECONDS": "0.01",
        "AGGREGAT_ODRE_MAX_WAIT_SECONDS": "2",
        "AGGREGAT_ODRE_MAX_ATTEMPTS": "3",
        "AGGREGAT_ODRE_TIMEOUT_SECONDS": "10",
        "AGGREGAT_ODRE_CHUNK_DAYS": "14",
        "AGGREGAT_ECO2MIX_TR_HISTORY_DAYS": "10",
        "AGGREGAT_GAS_LOOKBACK_DAYS": "7",
        "AGGREGAT_TEMPERATURE_LOOKBACK_DAYS": "10",
        "AGGREGAT_CONSOLIDATED_LOOKBACK_DAYS": "5",
        "AGGREGAT_PROGRESS": "false",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    return Settings()


@pytest.fixture
def lake(odre_settings) -> LocalLake:
    return LocalLake(odre_settings.lake_url)


@pytest.fixture
def client(odre_settings) -> Iterator[OdreClient]:
    with OdreClient(odre_settings, sleep=lambda s: None) as c:
        yield c
