{{
    config(
        cluster_by=['forecast_model', 'region_code'],
    )
}}
-- The newest run of each forecast series, whole: what the dashboard's weather page shows (the
-- forecast reads its weather from staging: flows/forecast/inputs.py).
with

forecasts as (

    select * from {{ ref('stg_meteofrance__features_hourly') }}

),

newest as (

    select
        forecast_model,
        max(run_at) as run_at
    from forecasts
    group by forecast_model

),

current_run as (

    select forecasts.*
    from forecasts
    inner join newest
        on forecasts.forecast_model = newest.forecast_model
        and forecasts.run_at = newest.run_at

)

select * from current_run
