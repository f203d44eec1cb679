-- One row per UTC instant: the best available eCO2mix values, definitive > consolidated >
-- real-time. Rows with no value at all (the spring-forward artefacts) never win and are
-- dropped; within one status the row with more values, then the latest load, wins.
with

realtime as (

    select * from {{ ref('stg_odre__eco2mix_realtime') }}

),

consolidated as (

    select * from {{ ref('stg_odre__eco2mix_consolidated') }}

),

unioned as (

    select *, 1 as nature_rank from realtime
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
        {%- endfor %} as value_count
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
        {{ to_local_date('measured_at') }} as date_local,
        nature_rank,
        {{ data_status('nature_rank') }} as data_status,
        {%- for _, column in eco2mix_measures() %}
        {{ column }},
        {%- endfor %}
        value_count,
        ingested_at
    from ranked
    where preference = 1 and value_count > 0

)

select * from final
