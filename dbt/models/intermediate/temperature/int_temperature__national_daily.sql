-- One row per day: the national temperature as the population-weighted mean of the regions
-- reported that day (weights renormalised over the regions present; the coverage columns
-- say how many and what share of the population they hold).
with

observations as (

    select * from {{ ref('stg_odre__regional_temperature') }}

),

regions as (

    select * from {{ ref('regions') }}

),

weighted as (

    select
        observations.observed_on,
        observations.tmin_c,
        observations.tmean_c,
        observations.tmax_c,
        cast(regions.population as {{ type_double() }}) as population
    from observations
    inner join regions on observations.region_code = regions.code

),

metropolitan as (

    select sum(cast(population as {{ type_double() }})) as population
    from regions

),

national as (

    select
        weighted.observed_on,
        {%- for measure in ['tmin_c', 'tmean_c', 'tmax_c'] %}
        {{ weighted_mean('weighted.' ~ measure, 'weighted.population') }} as {{ measure }},
        {%- endfor %}
        count(*) as regions_reported,
        sum(weighted.population) / min(metropolitan.population) as population_share_reported
    from weighted
    cross join metropolitan
    group by weighted.observed_on

)

select * from national
