{{
    config(
        partition_by=mart_partition('hour_utc', 'timestamp'),
        cluster_by=['date_local'],
    )
}}
-- One row per UTC hour: consumption, RTE's forecasts and generation by source, hourly means
-- in MW, with the local (Europe/Paris) hour and day.
with

hours as (

    select * from {{ ref('int_electricity__hourly') }}

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
        data_status
    from hours

)

select * from final
