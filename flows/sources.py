"""Every lake prefix that loads into a staging table, from every part of the platform."""

from __future__ import annotations

from flows import runlog
from flows.staging import LakeSource


def lake_sources() -> list[LakeSource]:
    """Every lake prefix that loads into a staging table."""
    # Imported when called, so one broken part cannot stop the others from importing.
    from flows.forecast.tables import lake_sources as forecast_sources
    from flows.meteofrance.tables import lake_sources as weather_sources
    from flows.odre.ingest import lake_sources as odre_sources

    return [*odre_sources(), *weather_sources(), *forecast_sources(), *runlog.lake_sources()]
