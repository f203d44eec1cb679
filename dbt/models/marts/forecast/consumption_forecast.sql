{{
    config(
        alias=env_var('AGGREGAT_FORECAST_TABLE', 'consumption_forecast'),
        partition_by=mart_partition('issue_date', 'date'),
        cluster_by=['target_hour_utc'],
    )
}}
-- Our hourly consumption forecast as issued, one row per issue day and target hour, under
-- the names the dashboard and Looker Studio read. The local hour is the wall-clock TIMESTAMP
-- of every mart's `*_local` hour, derived from the UTC hour (the lake's ISO string with its
-- offset is not carried: target_hour_utc says which of two equal autumn hours a row is).
with

forecasts as (

    select * from {{ ref('stg_forecast__consumption_hourly') }}

),

final as (

    select
        issued_on as issue_date,
        issued_at as issue_time_utc,
        horizon_days,
        date_local as target_date,
        hour_utc as target_hour_utc,
        {{ to_local_time('hour_utc') }} as target_hour_local,
        p10_mw,
        p50_mw,
        p90_mw,
        forecaster,
        forecaster_reason,
        model_version,
        created_at
    from forecasts

)

select * from final
