{{
    config(
        materialized='incremental',
        incremental_strategy=monthly_incremental_strategy(),
        unique_key='hour_utc',
        partition_by=mart_partition('hour_utc', 'timestamp'),
        require_partition_filter=true,
        cluster_by=['date_local'],
        on_schema_change='sync_all_columns',
    )
}}
-- One row per UTC hour: consumption, RTE's forecasts and generation by source, hourly means
-- in MW, with the local (Europe/Paris) hour and day.
-- Incremental: rebuilds the UTC months rebuilt upstream since the last build.
{%- if is_incremental() %}
    {%- set months = changed_months(
        [(ref('int_electricity__hourly'), 'hour_utc', 'month_ingested_at')],
        'loaded_at',
    ) %}
{%- endif %}
with

hours as (

    select * from {{ ref('int_electricity__hourly') }}
    {%- if is_incremental() %}
    where {{ in_months('hour_utc', months) }}
    {%- endif %}

),

final as (

    select
        hour_utc,
        hour_local,
        date_local,
        consumption_mw,
        forecast_j1_mw,
        forecast_j_mw,
        {%- for source in mix_sources() %}
        {{ source }}_mw,
        {%- endfor %}
        co2_g_per_kwh,
        production_total_mw,
        quarter_hours,
        consumption_quarter_hours,
        data_status,
        month_ingested_at as loaded_at
    from hours

)

select * from final
