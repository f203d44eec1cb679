"""The production tables the forecast writes, partitioned by issue day (re-issuing replaces)."""

from __future__ import annotations

from flows.warehouse import TableSpec


def hourly_spec(name: str = "consumption_forecast") -> TableSpec:
    """Hourly national consumption forecast, one row per issue day and target hour."""
    return TableSpec(
        name=name,
        columns={
            "issue_date": "date",
            "issue_time_utc": "timestamp",
            "horizon_days": "int64",
            "target_date": "date",
            "target_hour_utc": "timestamp",
            "target_hour_local": "string",
            "p10_mw": "float64",
            "p50_mw": "float64",
            "p90_mw": "float64",
            "forecaster": "string",
            "forecaster_reason": "string",
            "model_version": "string",
            "created_at": "timestamp",
        },
        partition_by="issue_date",
        cluster_by=("target_hour_utc",),
        description="Hourly national electricity consumption forecast (MW), P10/P50/P90.",
        column_descriptions={
            "issue_date": "Local day the forecast was issued (partition).",
            "issue_time_utc": "UTC instant of issue: the data known then, nothing later.",
            "horizon_days": "Days ahead of the issue day: 1 (D+1) or 2 (D+2).",
            "target_date": "Local (Europe/Paris) day of the target hour.",
            "target_hour_utc": "UTC start of the target hour.",
            "target_hour_local": "Local start of the target hour, ISO 8601 with offset.",
            "p10_mw": "10th percentile of consumption, MW.",
            "p50_mw": "Central forecast of consumption, MW.",
            "p90_mw": "90th percentile of consumption, MW.",
            "forecaster": "Which forecaster produced the row: `online_panel` (the experts"
            " corrected and aggregated online), `fallback_calendar` (no temperatures) or"
            " `naive_week` (last resort).",
            "forecaster_reason": "Why that forecaster produced the row, in words.",
            "model_version": "Registry version of the model that made the forecast.",
            "created_at": "When the row was written (UTC).",
        },
    )


def daily_spec(name: str = "consumption_forecast_daily") -> TableSpec:
    """Daily energy of the forecast, one row per issue day and target day."""
    return TableSpec(
        name=name,
        columns={
            "issue_date": "date",
            "horizon_days": "int64",
            "target_date": "date",
            "hours": "int64",
            "energy_p10_mwh": "float64",
            "energy_p50_mwh": "float64",
            "energy_p90_mwh": "float64",
            "peak_p50_mw": "float64",
            "model_version": "string",
            "created_at": "timestamp",
        },
        partition_by="issue_date",
        cluster_by=("target_date",),
        description="Daily national consumption energy forecast (MWh).",
        column_descriptions={
            "issue_date": "Local day the forecast was issued (partition).",
            "horizon_days": "Days ahead of the issue day.",
            "target_date": "Local (Europe/Paris) target day.",
            "hours": "Hours in the local day (23 or 25 on DST days).",
            "energy_p10_mwh": "Sum of hourly P10 (a conservative band, not the daily P10).",
            "energy_p50_mwh": "Sum of hourly P50, MWh.",
            "energy_p90_mwh": "Sum of hourly P90 (a conservative band, not the daily P90).",
            "peak_p50_mw": "Highest hourly P50 of the day, MW.",
            "model_version": "Registry version of the model that made the forecast.",
            "created_at": "When the row was written (UTC).",
        },
    )
