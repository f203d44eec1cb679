-- Each forecast hour beside the actual and RTE's J-1, with errors. Grain: hour_utc, horizon.
with

forecasts as (

    select * from {{ ref('stg_forecast__consumption_hourly') }}

),

actuals as (

    select * from {{ ref('int_electricity__hourly') }}

),

joined as (

    select
        forecasts.hour_utc,
        actuals.hour_local,
        forecasts.date_local,
        forecasts.horizon_days,
        forecasts.issued_on,
        forecasts.model_version,
        forecasts.p10_mw as forecast_p10_mw,
        forecasts.p50_mw as forecast_p50_mw,
        forecasts.p90_mw as forecast_p90_mw,
        actuals.forecast_j1_mw as rte_j1_mw,
        actuals.consumption_mw as actual_mw
    from forecasts
    left join actuals
        on forecasts.hour_utc = actuals.hour_utc

),

scored as (

    select
        *,
        forecast_p50_mw - actual_mw as error_mw,
        rte_j1_mw - actual_mw as rte_error_mw,
        case
            when actual_mw > 0 then 100 * abs(forecast_p50_mw - actual_mw) / actual_mw
        end as ape_pct,
        case
            when actual_mw > 0 then 100 * abs(rte_j1_mw - actual_mw) / actual_mw
        end as rte_ape_pct,
        case
            when actual_mw is null then null
            when actual_mw >= forecast_p10_mw and actual_mw <= forecast_p90_mw then 1
            else 0
        end as within_p10_p90
    from joined

)

select * from scored
