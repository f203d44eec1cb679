-- Forecast daily temperature per region (Météo-France runs), named like the observed table.
with

source as (

    select * from {{ source_or_empty('meteofrance', 'temperature_daily', [
        'day', 'date', 'code_insee_region', 'region', 'tmin', 'tmax', 'tmoy', 'model', 'grid',
        'run_time', 'ingested_at',
    ]) }}

),

renamed as (

    select
        cast(date as date) as forecast_on,
        cast(code_insee_region as {{ dbt.type_bigint() }}) as region_code,
        cast(region as {{ dbt.type_string() }}) as region_name,
        cast(tmin as {{ type_double() }}) as tmin_c,
        cast(tmoy as {{ type_double() }}) as tmean_c,
        cast(tmax as {{ type_double() }}) as tmax_c,
        cast(model as {{ dbt.type_string() }}) as model_name,
        cast(grid as {{ dbt.type_string() }}) as grid_key,
        {{ dbt.concat(['model', "'/'", 'grid']) }} as forecast_model,
        cast(run_time as {{ dbt.type_timestamp() }}) as run_at,
        cast(day as date) as run_day,
        cast(ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source

)

select * from renamed
