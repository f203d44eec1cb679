{{
    config(
        cluster_by=['forecast_model', 'region_code'],
    )
}}
-- The newest run of each forecast series, whole: what a prediction made today reads.
with

forecasts as (

    select * from {{ ref('stg_meteofrance__features_hourly') }}

),

newest as (

    select forecast_model, max(run_at) as run_at
    from forecasts
    group by forecast_model

),

final as (

    select forecasts.*
    from forecasts
    inner join newest
        on forecasts.forecast_model = newest.forecast_model
        and forecasts.run_at = newest.run_at

)

select * from final
