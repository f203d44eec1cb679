{{
    config(
        materialized='incremental',
        incremental_strategy=monthly_incremental_strategy(),
        unique_key='hour_utc',
        partition_by=mart_partition('hour_utc', 'timestamp'),
        on_schema_change='sync_all_columns',
    )
}}
-- One row per UTC hour: the mean MW of the quarter-hours that carry each measure (so
-- consumption is averaged only over the rows that have it: :00/:30 in consolidated data).
-- Local days failing a data-quality rule (int_electricity__quality) are left out.
-- Incremental: rebuilds the UTC months rebuilt upstream since the last build.
{%- if is_incremental() %}
    {%- set months = changed_months(
        [(ref('int_electricity__quarter_hourly'), 'measured_at', 'month_ingested_at')],
        'month_ingested_at',
    ) %}
{%- endif %}
with

quarter_hours as (

    select * from {{ ref('int_electricity__quarter_hourly') }}
    {%- if is_incremental() %}
    where {{ in_months('measured_at', months) }}
    {%- endif %}

),

-- Days failing a data-quality rule stay out until their corrected rows are loaded.
quarantined as (

    select distinct date_local from {{ ref('int_electricity__quality') }}

),

local_days as (

    select
        *,
        cast({{ to_local_time('measured_at') }} as date) as measured_day_local
    from quarter_hours

),

kept as (

    select local_days.*
    from local_days
    where not exists (
        select 1
        from quarantined
        where quarantined.date_local = local_days.measured_day_local
    )

),

hourly as (

    select
        {{ dbt.date_trunc('hour', 'measured_at') }} as hour_utc,
        {%- for _, column in eco2mix_measures() %}
        {{ exact_avg(column) }} as {{ column }},
        {%- endfor %}
        count(*) as quarter_hours,
        count(consumption_mw) as consumption_quarter_hours,
        min(nature_rank) as nature_rank,
        max(ingested_at) as ingested_at,
        max(month_ingested_at) as month_ingested_at
    from kept
    group by 1

),

final as (

    select
        hour_utc,
        {{ to_local_time('hour_utc') }} as hour_local,
        cast({{ to_local_time('hour_utc') }} as date) as date_local,
        {%- for _, column in eco2mix_measures() %}
        {{ column }},
        {%- endfor %}
        {{ sum_present(production_mw_columns()) }} as production_total_mw,
        quarter_hours,
        consumption_quarter_hours,
        nature_rank,
        {{ data_status('nature_rank') }} as data_status,
        ingested_at,
        month_ingested_at
    from hourly

)

select * from final
