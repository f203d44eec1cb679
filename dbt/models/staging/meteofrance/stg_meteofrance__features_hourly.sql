-- Forecast weather per region and valid time (Météo-France runs), renamed and typed.
with

source as (

    select * from {{ source_or_empty('meteofrance', 'features_hourly', [
        'day', 'model', 'grid', 'run_time', 'valid_time', 'step_hours', 'code_insee_region',
        'region', 't2m_c', 'rh2m_pct', 'wind10m_ms', 'ssrd_wh_m2', 'tcc_pct', 'precip_mm',
        'ingested_at',
    ]) }}

),

renamed as (

    select
        cast(model as {{ dbt.type_string() }}) as model_name,
        cast(grid as {{ dbt.type_string() }}) as grid_key,
        {{ dbt.concat(['model', "'/'", 'grid']) }} as forecast_model,
        cast(run_time as {{ dbt.type_timestamp() }}) as run_at,
        cast(day as date) as run_day,
        cast(valid_time as {{ dbt.type_timestamp() }}) as valid_at,
        cast(step_hours as {{ type_double() }}) as lead_hours,
        cast(code_insee_region as {{ dbt.type_bigint() }}) as region_code,
        cast(region as {{ dbt.type_string() }}) as region_name,
        cast(t2m_c as {{ type_double() }}) as t2m_c,
        cast(rh2m_pct as {{ type_double() }}) as rh2m_pct,
        cast(wind10m_ms as {{ type_double() }}) as wind10m_ms,
        cast(ssrd_wh_m2 as {{ type_double() }}) as ssrd_wh_m2,
        cast(tcc_pct as {{ type_double() }}) as tcc_pct,
        cast(precip_mm as {{ type_double() }}) as precip_mm,
        cast(ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from source

)

select * from renamed
