-- Our hourly consumption forecast, renamed and typed.
with

source as (

    select * from {{ source_or_empty('forecast', 'consumption_hourly', [
        'issue_date', 'issue_time_utc', 'horizon_days', 'target_date', 'target_hour_utc',
        'p10_mw', 'p50_mw', 'p90_mw', 'p50_before_memory_mw', 'forecaster', 'forecaster_reason',
        'model_version', 'created_at',
    ]) }}

),

renamed as (

    select
        cast(issue_date as date) as issued_on,
        cast(issue_time_utc as {{ dbt.type_timestamp() }}) as issued_at,
        cast(horizon_days as {{ dbt.type_bigint() }}) as horizon_days,
        cast(target_date as date) as date_local,
        cast(target_hour_utc as {{ dbt.type_timestamp() }}) as hour_utc,
        cast(p10_mw as {{ type_double() }}) as p10_mw,
        cast(p50_mw as {{ type_double() }}) as p50_mw,
        cast(p90_mw as {{ type_double() }}) as p90_mw,
        cast(p50_before_memory_mw as {{ type_double() }}) as p50_before_memory_mw,
        cast(forecaster as {{ dbt.type_string() }}) as forecaster,
        cast(forecaster_reason as {{ dbt.type_string() }}) as forecaster_reason,
        cast(model_version as {{ dbt.type_string() }}) as model_version,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at
    from source

)

select * from renamed
