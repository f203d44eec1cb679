{{
    config(
        partition_by=mart_partition('date', 'date'),
        cluster_by=['region_code', 'forecast_model'],
    )
}}
-- Forecast minus observed daily temperature per local day, area, forecast series and run,
-- with the lead in days: how good each run was, region by region and for France.
with

forecast as (

    select * from {{ ref('stg_meteofrance__temperature_daily') }}

),

observed as (

    select * from {{ ref('int_weather__observed_temperature_daily') }}

),

paired as (

    select
        forecast.forecast_on as date,
        forecast.region_code,
        forecast.region_name,
        forecast.forecast_model,
        forecast.model_name,
        forecast.grid_key,
        forecast.run_at,
        {{ dbt.datediff('forecast.run_day', 'forecast.forecast_on', 'day') }}
            as lead_days,
        forecast.tmin_c as forecast_tmin_c,
        forecast.tmean_c as forecast_tmean_c,
        forecast.tmax_c as forecast_tmax_c,
        observed.tmin_c as observed_tmin_c,
        observed.tmean_c as observed_tmean_c,
        observed.tmax_c as observed_tmax_c
    from forecast
    inner join observed
        on forecast.forecast_on = observed.observed_on
        and forecast.region_code = observed.region_code

),

final as (

    select
        paired.*,
        {%- for measure in ['tmin', 'tmean', 'tmax'] %}
        forecast_{{ measure }}_c - observed_{{ measure }}_c as error_{{ measure }}_c,
        abs(forecast_{{ measure }}_c - observed_{{ measure }}_c) as abs_error_{{ measure }}_c
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from paired

)

select * from final
