{{
    config(
        partition_by=mart_partition('date_local', 'date'),
        cluster_by=['source', 'hour_utc'],
    )
}}
-- Everything the consumption forecast reads, per UTC hour and series: one 'measured' row per
-- hour (consumption, RTE's J-1, our own D+1 forecast as issued and the observed daily
-- temperatures of the hour's local day)
-- and one row per weather run and hour of the full local days it forecasts (the run's daily
-- temperatures and its hourly weather), each stamped with the run's time so that a reader
-- takes only what was known at its issue time.
{%- set weather_measures = [
    't2m_c', 'rh2m_pct', 'wind10m_ms', 'ssrd_wh_m2', 'tcc_pct', 'precip_mm',
] %}
{%- set temperature_columns = ['tmin_c', 'tmean_c', 'tmax_c', 'regions_reported'] %}
{%- for code, slug in region_columns() %}
{%- for _, prefix in forecast_temperature_measures() %}
{%- do temperature_columns.append(prefix ~ '_' ~ slug) %}
{%- endfor %}
{%- endfor %}
{%- set weather_columns = weather_measures[:] %}
{%- for code, slug in region_columns() %}
{%- do weather_columns.append('t2m_c_' ~ slug) %}
{%- endfor %}
with

temperatures as (

    select * from {{ ref('int_forecast__temperature_daily') }}

),

consumption as (

    -- Every hour: the mart requires a partition filter, this one keeps all rows.
    select * from {{ ref('energy_mix_hourly') }}
    where {{ partition_filter_all('hour_utc') }}

),

weather as (

    select * from {{ ref('stg_meteofrance__features_hourly') }}

),

issued as (

    select * from {{ ref('stg_forecast__consumption_hourly') }}

),

-- Our own D+1 forecast of each hour before its holiday memory: next year's same holiday
-- learns from its error. One issue per target hour at horizon 1.
issued_day_ahead as (

    select
        hour_utc,
        max(p50_before_memory_mw) as issued_d1_p50_before_memory_mw
    from issued
    where horizon_days = 1
    group by hour_utc

),

-- 0..24: the hours of a local day (23, 24 or 25 of them) counted from its midnight.
hour_offsets as (

    {%- for n in range(25) %}
    select {{ n }} as hour_offset
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}

),

day_hours as (

    select
        temperatures.*,
        {{ add_hours(
            local_to_utc(local_date_start('temperatures.date_local')), 'hour_offsets.hour_offset'
        ) }} as hour_utc,
        {{ local_to_utc(local_date_start(dbt.dateadd('day', 1, 'temperatures.date_local'))) }}
            as next_day_utc
    from temperatures
    cross join hour_offsets

),

temperature_hours as (

    select * from day_hours
    where hour_utc < next_day_utc

),

observed_hours as (

    select * from temperature_hours
    where source = 'measured'

),

run_hours as (

    select * from temperature_hours
    where source <> 'measured'

),

measured as (

    select
        coalesce(consumption.hour_utc, observed.hour_utc) as hour_utc,
        cast('measured' as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_timestamp() }}) as run_at,
        cast(null as {{ type_double() }}) as lead_hours,
        consumption.consumption_mw,
        consumption.forecast_j1_mw as rte_j1_mw,
        issued_day_ahead.issued_d1_p50_before_memory_mw,
        {%- for column in temperature_columns %}
        observed.{{ column }},
        {%- endfor %}
        {%- for column in weather_columns %}
        cast(null as {{ type_double() }}) as {{ column }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from consumption
    full outer join observed_hours as observed
        on consumption.hour_utc = observed.hour_utc
    left join issued_day_ahead
        on coalesce(consumption.hour_utc, observed.hour_utc) = issued_day_ahead.hour_utc

),

weather_hourly as (

    select
        forecast_model as source,
        run_at,
        valid_at as hour_utc,
        max(lead_hours) as lead_hours,
        {%- for measure in weather_measures %}
        max(case when region_code = 0 then {{ measure }} end) as {{ measure }},
        {%- endfor %}
        {%- for code, slug in region_columns() %}
        max(case when region_code = {{ code }} then t2m_c end) as t2m_c_{{ slug }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from weather
    group by forecast_model, run_at, valid_at

),

forecast as (

    select
        runs.hour_utc,
        runs.source,
        runs.run_at,
        coalesce(
            weather_hourly.lead_hours,
            {{ dbt.datediff('runs.run_at', 'runs.hour_utc', 'hour') }}
        ) as lead_hours,
        cast(null as {{ type_double() }}) as consumption_mw,
        cast(null as {{ type_double() }}) as rte_j1_mw,
        cast(null as {{ type_double() }}) as issued_d1_p50_before_memory_mw,
        {%- for column in temperature_columns %}
        runs.{{ column }},
        {%- endfor %}
        {%- for column in weather_columns %}
        weather_hourly.{{ column }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from run_hours as runs
    left join weather_hourly
        on runs.source = weather_hourly.source
        and runs.run_at = weather_hourly.run_at
        and runs.hour_utc = weather_hourly.hour_utc

),

unioned as (

    select * from measured
    union all
    select * from forecast

),

final as (

    select
        hour_utc,
        cast({{ to_local_time('hour_utc') }} as date) as date_local,
        source,
        run_at,
        cast(lead_hours as {{ type_double() }}) as lead_hours,
        consumption_mw,
        rte_j1_mw,
        issued_d1_p50_before_memory_mw,
        {%- for column in temperature_columns %}
        {{ column }},
        {%- endfor %}
        {%- for column in weather_columns %}
        {{ column }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from unioned

)

select * from final
