-- Observed daily temperature per region plus France (region_code 0, population-weighted),
-- the same areas the forecasts cover, to score them against.
with

regions as (

    select * from {{ ref('stg_odre__regional_temperature') }}

),

national as (

    select * from {{ ref('int_temperature__national_daily') }}

),

unioned as (

    select
        observed_on,
        region_code,
        region_name,
        tmin_c,
        tmean_c,
        tmax_c
    from regions

    union all

    select
        observed_on,
        cast(0 as {{ dbt.type_bigint() }}) as region_code,
        cast('France' as {{ dbt.type_string() }}) as region_name,
        tmin_c,
        tmean_c,
        tmax_c
    from national

)

select * from unioned
