"""The Prefect flow against the fake server: the run, its artifact, and a failing dataset."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from flows.errors import OdreError
from flows.lake import LocalLake
from flows.odre.flow import ingest_odre
from flows.odre.ingest import watermark
from flows.odre.schemas import DATASETS, GAS_STORAGE, TEMPERATURE
from tests.fakes.odre_server import FakeOdre
from tests.odre.conftest import AS_OF


async def _artifact_markdown(key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        found = await client.read_artifacts(
            # The session's server holds other tests' runs too: take this test's, the newest.
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            limit=1,
            sort="CREATED_DESC",
        )
    return found[0].data


@pytest.mark.slow
def test_ingest_odre_flow(prefect_server, odre_settings, fake_odre: FakeOdre) -> None:
    lake = LocalLake(odre_settings.lake_url)
    summary = ingest_odre(as_of=AS_OF)
    assert summary.errors == {}
    assert [d.dataset for d in summary.datasets] == odre_settings.odre_datasets
    for dataset in DATASETS.values():
        assert watermark(lake, dataset) == AS_OF
    markdown = asyncio.run(_artifact_markdown("odre-ingestion"))
    assert f"| eco2mix-national-tr | {AS_OF} | 96 | replaced |" in markdown

    # a failing dataset is reported, the others still run, and the flow fails at the end
    fake_odre.add_fault("truncated", dataset=GAS_STORAGE.id, times=None)
    fake_odre.add_fault("revise", dataset=TEMPERATURE.id, column="tmoy", factor=0.5)
    with pytest.raises(OdreError, match=r"stock-quotidien-stockages-gaz window .*truncated"):
        ingest_odre(as_of=AS_OF + timedelta(days=1), datasets=[GAS_STORAGE.id, TEMPERATURE.id])
    assert watermark(lake, TEMPERATURE) == AS_OF + timedelta(days=1)
    assert watermark(lake, GAS_STORAGE) == AS_OF
