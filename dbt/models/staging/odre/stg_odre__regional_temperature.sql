-- Observed daily temperature per region (temperature-quotidienne-regionale), renamed and typed.
with

source as (

    select * from {{ source('odre', 'temperature_quotidienne_regionale') }}

),

renamed as (

    select
        cast(date as date) as observed_on,
        cast(code_insee_region as {{ dbt.type_bigint() }}) as region_code,
        cast(region as {{ dbt.type_string() }}) as region_name,
        cast(id as {{ dbt.type_string() }}) as observation_id,
        cast(tmin as {{ type_double() }}) as tmin_c,
        cast(tmoy as {{ type_double() }}) as tmean_c,
        cast(tmax as {{ type_double() }}) as tmax_c,
        cast(ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source

)

select * from renamed
