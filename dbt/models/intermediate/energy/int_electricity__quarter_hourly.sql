{{
    config(
        materialized='incremental',
        incremental_strategy=monthly_incremental_strategy(),
        unique_key='measured_at',
        partition_by=mart_partition('measured_at', 'timestamp'),
        on_schema_change='sync_all_columns',
    )
}}
-- One row per UTC instant: the best available eCO2mix values, definitive > consolidated >
-- real-time. Rows with no value at all (the spring-forward artefacts) never win and are
-- dropped; within one status the row with more values, then the latest load, wins.
-- Incremental: rebuilds the UTC months with rows loaded since the last build.
{%- if is_incremental() %}
    {%- set months = changed_months([
        (ref('stg_odre__eco2mix_realtime'), 'measured_day_utc', 'ingested_at'),
        (ref('stg_odre__eco2mix_consolidated'), 'measured_day_utc', 'ingested_at'),
    ], 'month_ingested_at') %}
{%- endif %}
with

realtime as (

    select * from {{ ref('stg_odre__eco2mix_realtime') }}
    {%- if is_incremental() %}
    where {{ in_months('measured_day_utc', months) }}
    {%- endif %}

),

consolidated as (

    select * from {{ ref('stg_odre__eco2mix_consolidated') }}
    {%- if is_incremental() %}
    where {{ in_months('measured_day_utc', months) }}
    {%- endif %}

),

unioned as (

    select
        *,
        1 as nature_rank
    from realtime
    union all
    select
        *,
        case when lower(data_nature) like '%finitive%' then 3 else 2 end as nature_rank
    from consolidated

),

counted as (

    select
        *,
        0
        {%- for _, column in eco2mix_measures() %}
        + case when {{ column }} is not null then 1 else 0 end
        {%- endfor %} as value_count,
        -- The latest load among all the rows of the month: the watermark of the next build.
        max(ingested_at) over (
            partition by {{ dbt.date_trunc('month', 'measured_day_utc') }}
        ) as month_ingested_at
    from unioned

),

ranked as (

    select
        *,
        row_number() over (
            partition by measured_at
            order by
                case when value_count > 0 then 1 else 0 end desc,
                nature_rank desc,
                value_count desc,
                ingested_at desc
        ) as preference
    from counted

),

final as (

    select
        measured_at,
        {{ to_local_time('measured_at') }} as measured_at_local,
        cast({{ to_local_time('measured_at') }} as date) as date_local,
        nature_rank,
        {{ data_status('nature_rank') }} as data_status,
        {%- for _, column in eco2mix_measures() %}
        {{ column }},
        {%- endfor %}
        value_count,
        ingested_at,
        month_ingested_at
    from ranked
    where preference = 1 and value_count > 0

)

select * from final
