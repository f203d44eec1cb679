{{
    config(
        alias=env_var('AGGREGAT_FORECAST_DAILY_TABLE', 'consumption_forecast_daily'),
        partition_by=mart_partition('issue_date', 'date'),
        cluster_by=['target_date'],
    )
}}
-- The daily energy of our forecast as issued, one row per issue day and target day.
with

forecasts as (

    select * from {{ ref('stg_forecast__consumption_daily') }}

),

final as (

    select
        issued_on as issue_date,
        horizon_days,
        date_local as target_date,
        hours,
        energy_p10_gwh,
        energy_p50_gwh,
        energy_p90_gwh,
        peak_p50_mw,
        model_version,
        created_at
    from forecasts

)

select * from final
