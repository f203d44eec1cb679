-- The daily energy of our forecast, renamed and typed; energy in GWh like every daily mart
-- (the lake table holds MWh).
with

source as (

    select * from {{ source_or_empty('forecast', 'consumption_daily', [
        'issue_date', 'horizon_days', 'target_date', 'hours', 'energy_p10_mwh',
        'energy_p50_mwh', 'energy_p90_mwh', 'peak_p50_mw', 'model_version', 'created_at',
    ]) }}

),

renamed as (

    select
        cast(issue_date as date) as issued_on,
        cast(horizon_days as {{ dbt.type_bigint() }}) as horizon_days,
        cast(target_date as date) as date_local,
        cast(hours as {{ dbt.type_bigint() }}) as hours,
        cast(energy_p10_mwh as {{ type_double() }}) / 1000.0 as energy_p10_gwh,
        cast(energy_p50_mwh as {{ type_double() }}) / 1000.0 as energy_p50_gwh,
        cast(energy_p90_mwh as {{ type_double() }}) / 1000.0 as energy_p90_gwh,
        cast(peak_p50_mw as {{ type_double() }}) as peak_p50_mw,
        cast(model_version as {{ dbt.type_string() }}) as model_version,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at
    from source

)

select * from renamed
