{{
    config(
        partition_by=mart_partition('run_day', 'date', 'day'),
        cluster_by=['forecast_model', 'valid_at', 'region_code'],
    )
}}
-- Every run of the last `weather_recent_days` days (14) before the newest run: enough for
-- daily predictions and recent skill, small enough to read whole.
with

forecasts as (

    select * from {{ ref('stg_meteofrance__features_hourly') }}

),

window_start as (

    select
        cast(
            {{ dbt.dateadd('day', 1 - var('weather_recent_days', 14), 'max(run_day)') }} as date
        ) as first_run_day
    from forecasts

),

final as (

    select forecasts.*
    from forecasts
    cross join window_start
    where forecasts.run_day >= window_start.first_run_day

)

select * from final
