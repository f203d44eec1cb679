{{
    config(
        partition_by=mart_partition('run_day', 'date', 'day'),
        cluster_by=['forecast_model', 'valid_at', 'region_code'],
    )
}}
-- Every run of the last var('weather_recent_days') run days (14) up to the newest run, small
-- enough to read whole: the dashboard's feed status lists its run days.
with

forecasts as (

    select * from {{ ref('stg_meteofrance__features_hourly') }}

),

window_start as (

    select
        cast(
            {{ dbt.dateadd('day', 1 - var('weather_recent_days'), 'max(run_day)') }} as date
        ) as first_run_day
    from forecasts

),

recent as (

    select forecasts.*
    from forecasts
    cross join window_start
    where forecasts.run_day >= window_start.first_run_day

)

select * from recent
