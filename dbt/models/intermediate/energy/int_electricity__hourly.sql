-- One row per UTC hour: the mean MW of the quarter-hours that carry each measure (so
-- consumption is averaged only over the rows that have it: :00/:30 in consolidated data).
with

quarter_hours as (

    select * from {{ ref('int_electricity__quarter_hourly') }}

),

hourly as (

    select
        {{ dbt.date_trunc('hour', 'measured_at') }} as hour_utc,
        {%- for _, column in eco2mix_measures() %}
        avg({{ column }}) as {{ column }},
        {%- endfor %}
        count(*) as quarter_hours,
        count(consumption_mw) as consumption_quarter_hours,
        min(nature_rank) as nature_rank,
        max(ingested_at) as ingested_at
    from quarter_hours
    group by 1

),

final as (

    select
        hour_utc,
        {{ to_local_time('hour_utc') }} as hour_local,
        {{ to_local_date('hour_utc') }} as date_local,
        {%- for _, column in eco2mix_measures() %}
        {{ column }},
        {%- endfor %}
        {{ sum_present(production_mw_columns()) }} as production_total_mw,
        quarter_hours,
        consumption_quarter_hours,
        nature_rank,
        {{ data_status('nature_rank') }} as data_status,
        ingested_at
    from hourly

)

select * from final
