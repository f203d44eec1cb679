{{
    config(
        partition_by=mart_partition('date_local', 'date'),
        cluster_by=['date_local'],
    )
}}
-- Per target hour and horizon: ours (P10/P50/P90), RTE's J-1 and the actual, with errors and
-- the rolling 7- and 28-day MAPE and bias of the day the hour belongs to.
with

hours as (

    select * from {{ ref('int_forecast__hourly_scored') }}

),

daily as (

    select * from {{ ref('forecast_skill_daily') }}

),

final as (

    select
        hours.hour_utc,
        hours.hour_local,
        hours.date_local,
        hours.horizon_days,
        hours.issued_on,
        hours.model_version,
        hours.forecast_p10_mw,
        hours.forecast_p50_mw,
        hours.forecast_p90_mw,
        hours.rte_j1_mw,
        hours.actual_mw,
        hours.error_mw,
        hours.rte_error_mw,
        hours.ape_pct,
        hours.rte_ape_pct,
        hours.within_p10_p90,
        daily.mape_7d_pct,
        daily.rte_mape_7d_pct,
        daily.bias_7d_mw,
        daily.rte_bias_7d_mw,
        daily.mape_28d_pct,
        daily.rte_mape_28d_pct,
        daily.bias_28d_mw,
        daily.rte_bias_28d_mw
    from hours
    left join daily
        on hours.date_local = daily.date_local
        and hours.horizon_days = daily.horizon_days

)

select * from final
