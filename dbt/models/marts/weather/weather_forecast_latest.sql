{{
    config(
        partition_by=mart_partition('valid_at', 'timestamp'),
        cluster_by=['forecast_model', 'region_code'],
    )
}}
-- For each forecast series, valid time and area: the value of the most recent run.
with

forecasts as (

    select * from {{ ref('stg_meteofrance__features_hourly') }}

),

ranked as (

    select
        forecasts.*,
        row_number() over (
            partition by forecasts.forecast_model, forecasts.valid_at, forecasts.region_code
            order by forecasts.run_at desc
        ) as recency
    from forecasts

),

final as (

    select
        forecast_model,
        model_name,
        grid_key,
        valid_at,
        cast({{ to_local_time('valid_at') }} as date) as valid_date_local,
        region_code,
        region_name,
        run_at,
        lead_hours,
        t2m_c,
        rh2m_pct,
        wind10m_ms,
        ssrd_wh_m2,
        tcc_pct,
        precip_mm
    from ranked
    where recency = 1

)

select * from final
