-- Daily temperatures the forecast reads, one row per series and local day: the observations
-- (source 'measured') and each weather run's forecast (source = forecast model, with its
-- run_at), national and per region side by side. The national value is computed here, once,
-- for observations and forecasts alike: the population-weighted mean of the regions present
-- (weights renormalised over them; regions_reported says how many).
{#- The per-region columns: (region code, measure, column). #}
{%- set region_measures = [] %}
{%- for code, slug in region_columns() %}
{%- for measure, prefix in forecast_temperature_measures() %}
{%- do region_measures.append((code, measure, prefix ~ '_' ~ slug)) %}
{%- endfor %}
{%- endfor %}
with

observed as (

    select * from {{ ref('stg_odre__regional_temperature') }}

),

forecast as (

    select * from {{ ref('stg_meteofrance__temperature_daily') }}

),

regions as (

    select * from {{ ref('regions') }}

),

regional as (

    select
        cast('measured' as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_timestamp() }}) as run_at,
        observed_on as date_local,
        region_code,
        tmin_c,
        tmean_c,
        tmax_c
    from observed

    union all

    select
        forecast_model as source,
        run_at,
        forecast_on as date_local,
        region_code,
        tmin_c,
        tmean_c,
        tmax_c
    from forecast
    -- The run's own France row is left out: the national value is computed below.
    where region_code <> 0

),

weighted as (

    select
        regional.*,
        cast(regions.population as {{ type_double() }}) as population
    from regional
    inner join regions on regional.region_code = regions.code

),

pivoted as (

    select
        source,
        run_at,
        date_local,
        {%- for measure, _ in forecast_temperature_measures() %}
        {{ weighted_mean(measure, 'population') }} as {{ measure }},
        {%- endfor %}
        count(*) as regions_reported,
        {%- for code, measure, column in region_measures %}
        max(case when region_code = {{ code }} then {{ measure }} end) as {{ column }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from weighted
    group by source, run_at, date_local

)

select * from pivoted
