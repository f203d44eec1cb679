-- How each step of each run ended, renamed and typed.
with

source as (

    select * from {{ source_or_empty('pipeline', 'runs', [
        'day', 'run_id', 'flow', 'step', 'status', 'started_at', 'ended_at', 'as_of',
        'row_count', 'day_partitions', 'message', 'recorded_at',
    ]) }}

),

renamed as (

    select
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(flow as {{ dbt.type_string() }}) as flow_name,
        cast(step as {{ dbt.type_string() }}) as step_name,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(ended_at as {{ dbt.type_timestamp() }}) as ended_at,
        cast(as_of as date) as as_of,
        cast(row_count as {{ dbt.type_bigint() }}) as row_count,
        cast(day_partitions as {{ dbt.type_bigint() }}) as day_partitions,
        cast(message as {{ dbt.type_string() }}) as message,
        cast(recorded_at as {{ dbt.type_timestamp() }}) as recorded_at,
        cast(day as date) as run_day
    from source

)

select * from renamed
