"""The exports client against the fake ODRÉ server: parameters, retries, clear failures."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import httpx
import pyarrow.parquet as pq
import pytest
from pydantic import SecretStr

from flows.errors import OdreError, SourceUnreachable
from flows.odre.client import OdreClient, Window, reset_wait
from flows.odre.schemas import ECO2MIX_TR, GAS_STORAGE, TEMPERATURE, Dataset
from tests.fakes.odre_server import FakeOdre
from tests.gcp.emulators import free_port

WINDOW = Window(date(2025, 3, 29), date(2025, 4, 1))


def test_window_chunks_cover_the_span_without_overlap() -> None:
    chunks = Window(date(2025, 1, 1), date(2025, 3, 1)).chunks(31)
    assert chunks == [
        Window(date(2025, 1, 1), date(2025, 2, 1)),
        Window(date(2025, 2, 1), date(2025, 3, 1)),
    ]
    assert Window(date(2025, 1, 1), date(2025, 1, 3)).days() == [date(2025, 1, 1), date(2025, 1, 2)]
    with pytest.raises(ValueError, match="empty window"):
        Window(date(2025, 1, 2), date(2025, 1, 2))


def test_export_asks_for_a_utc_window_of_field_names(fake_odre: FakeOdre, client) -> None:
    body = client.export(ECO2MIX_TR, WINDOW)
    (request,) = fake_odre.requests
    assert request.dataset == "eco2mix-national-tr"
    assert request.params == {
        "where": "date_heure >= date'2025-03-29' AND date_heure < date'2025-04-01'",
        "order_by": "date_heure",
        "timezone": "UTC",
        "use_labels": "false",
    }
    table = pq.read_table(io.BytesIO(body))
    stamps = table.column("date_heure").to_pandas()
    assert str(stamps.dt.tz) == "UTC"
    # 3 UTC days of 15-minute rows, whatever the DST change on 2025-03-30
    assert len(table) == 3 * 96 == request.rows
    assert stamps.min() == datetime(2025, 3, 29, tzinfo=UTC)


def test_daily_datasets_filter_on_their_date_field(fake_odre: FakeOdre, client) -> None:
    table = pq.read_table(io.BytesIO(client.export(TEMPERATURE, WINDOW)))
    assert fake_odre.requests[0].params["where"].startswith("date >= date'2025-03-29'")
    assert len(table) == 3 * 13
    assert len(pq.read_table(io.BytesIO(client.export(GAS_STORAGE, WINDOW)))) == 3 * 6


def test_api_key_goes_in_the_authorization_header(odre_settings) -> None:
    seen = {}

    def answer(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        return httpx.Response(200, content=b"PAR1...PAR1")

    settings = odre_settings.model_copy(update={"odre_api_key": SecretStr("k3y")})
    with OdreClient(settings, transport=httpx.MockTransport(answer)) as client:
        client.export(ECO2MIX_TR, WINDOW)
    assert seen["authorization"] == "Apikey k3y"


def test_429_then_200_waits_for_reset_time(fake_odre: FakeOdre, odre_settings, caplog) -> None:
    fake_odre.add_fault("rate_limit", reset_seconds=1.0)
    waits: list[float] = []
    with OdreClient(odre_settings, sleep=waits.append) as client:
        body = client.export(GAS_STORAGE, WINDOW)
    assert [r.status for r in fake_odre.requests] == [429, 200]
    assert body.startswith(b"PAR1")
    # The body's reset_time (1 s ahead), not the 0.01 s backoff.
    assert len(waits) == 1 and 0.3 < waits[0] <= 2.0
    (line,) = [r.getMessage() for r in caplog.records if r.name == "flows.odre.client"]
    assert line.startswith(
        "ODRÉ stock-quotidien-stockages-gaz window [2025-03-29, 2025-04-01): attempt 1 failed"
        " (HTTP 429: "
    )
    assert line.endswith(f"next attempt in {waits[0]:.2f}s (the quota reset the server announced)")


def test_a_truncated_200_is_retried_once(fake_odre: FakeOdre, client, caplog) -> None:
    fake_odre.add_fault("truncated")
    assert client.export(GAS_STORAGE, WINDOW).endswith(b"PAR1")
    assert [r.status for r in fake_odre.requests] == [200, 200]
    assert "attempt 1 failed (truncated Parquet body (" in caplog.text
    fake_odre.add_fault("truncated", times=None)
    with pytest.raises(OdreError, match=r"gave up after 2 attempts; last: truncated Parquet body"):
        client.export(GAS_STORAGE, WINDOW)
    assert len(fake_odre.requests) == 4


def test_429_beyond_max_wait_fails_at_once(fake_odre: FakeOdre, client) -> None:
    fake_odre.add_fault("rate_limit", reset_seconds=3600, times=None)
    with pytest.raises(OdreError, match=r"stock-quotidien-stockages-gaz.*2025-03-29.*quota"):
        client.export(GAS_STORAGE, WINDOW)
    assert len(fake_odre.requests) == 1


def test_500_forever_gives_up_naming_dataset_window_status(
    fake_odre: FakeOdre, client, caplog
) -> None:
    fake_odre.add_fault("server_error", times=None)
    with pytest.raises(OdreError) as err:
        client.export(TEMPERATURE, WINDOW)
    message = str(err.value)
    assert "temperature-quotidienne-regionale" in message
    assert "[2025-03-29, 2025-04-01)" in message
    assert "HTTP 500" in message and "3 attempts" in message
    assert [r.status for r in fake_odre.requests] == [500, 500, 500]
    retries = [r.getMessage() for r in caplog.records if r.name == "flows.odre.client"]
    assert [line.split(" failed (")[0][-9:] for line in retries] == ["attempt 1", "attempt 2"]
    assert all("(HTTP 500: " in line and "next attempt in 0.0" in line for line in retries)


def test_unknown_dataset_is_not_retried(fake_odre: FakeOdre, client) -> None:
    bogus = Dataset(
        id="no-such-dataset",
        time_field="date",
        time_is_timestamp=False,
        fields={"date": "date"},
        lookback_setting="gas_lookback_days",
        lookback_unit="days",
        description="",
    )
    with pytest.raises(OdreError, match=r"no-such-dataset.*HTTP 404"):
        client.export(bogus, WINDOW)
    assert len(fake_odre.requests) == 1


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        (f"http://127.0.0.1:{free_port()}/api/explore/v2.1", "connection refused"),
        ("http://odre.invalid/api/explore/v2.1", "no such host"),  # .invalid never resolves
    ],
)
def test_an_unreachable_host_is_tried_twice_then_named(odre_settings, base_url, reason) -> None:
    settings = odre_settings.model_copy(update={"odre_base_url": base_url, "odre_max_attempts": 6})
    host = base_url.split("/")[2]
    with (
        OdreClient(settings, sleep=lambda s: None) as client,
        pytest.raises(SourceUnreachable) as err,
    ):
        client.export(ECO2MIX_TR, WINDOW)
    assert client.requests == 2  # not the six attempts a busy server gets
    message = str(err.value)
    assert f"ODRÉ at {host} is unreachable ({reason})" in message
    assert "AGGREGAT_ODRE_BASE_URL" in message and "make demo" in message


def test_a_dropped_connection_is_still_transient(odre_settings, fake_odre) -> None:
    # A timeout or a reset is a busy or flaky server, not a missing one: full retries.
    fake_odre.add_fault("server_error", times=None)
    with (
        OdreClient(odre_settings, sleep=lambda s: None) as client,
        pytest.raises(OdreError, match="gave up after 3 attempts"),
    ):
        client.export(ECO2MIX_TR, WINDOW)
    assert client.requests == 3


def test_reset_wait_reads_iso_body_and_epoch_header() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    later = (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=30)).isoformat()
    body = httpx.Response(429, json={"errorcode": 10002, "reset_time": later})
    assert reset_wait(body, now) == pytest.approx(30)
    header = httpx.Response(429, headers={"X-RateLimit-Reset": str(int(now + 90))}, json={})
    assert reset_wait(header, now) == pytest.approx(90)
    assert reset_wait(httpx.Response(429, text="busy"), now) is None
