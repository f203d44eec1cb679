{{
    config(
        partition_by=mart_partition('gas_day', 'date'),
        cluster_by=['level', 'storage_group'],
    )
}}
-- One row per gas day and storage group, plus one national row per gas day (level
-- 'national', storage_group 'France'): stock, day-over-day change and fill level.
with

group_days as (

    select * from {{ ref('int_gas_storage__group_daily') }}

),

national_days as (

    select * from {{ ref('int_gas_storage__national_daily') }}

),

seeded_groups as (

    select * from {{ ref('gas_storage_groups') }}

),

observed_max as (

    select
        storage_group,
        max(stock_gwh) as max_stock_gwh
    from group_days
    group by storage_group

),

capacities as (

    select
        observed_max.storage_group,
        coalesce(seeded_groups.working_capacity_gwh, observed_max.max_stock_gwh)
            as working_capacity_gwh,
        case
            when seeded_groups.working_capacity_gwh is not null then 'seed'
            else 'observed_max'
        end as capacity_basis
    from observed_max
    left join seeded_groups on observed_max.storage_group = seeded_groups.storage_group

),

national_capacity as (

    select
        {{ exact_sum('working_capacity_gwh') }} as working_capacity_gwh,
        case
            when count(case when capacity_basis = 'seed' then 1 end) = count(*) then 'seed'
            when count(case when capacity_basis = 'seed' then 1 end) = 0 then 'observed_max'
            else 'mixed'
        end as capacity_basis
    from capacities

),

group_rows as (

    select
        group_days.gas_day,
        'group' as level,
        group_days.operator,
        group_days.storage_group,
        group_days.stock_gwh,
        capacities.working_capacity_gwh,
        capacities.capacity_basis,
        group_days.report_status as status,
        {%- for status in ['reported', 'carried_forward', 'missing'] %}
        cast(
            case when group_days.report_status = '{{ status }}' then 1 else 0 end
            as {{ dbt.type_bigint() }}
        ) as groups_{{ status }},
        {%- endfor %}
        group_days.last_reported_day
    from group_days
    left join capacities on group_days.storage_group = capacities.storage_group

),

national_rows as (

    select
        national_days.gas_day,
        'national' as level,
        'all' as operator,
        'France' as storage_group,
        national_days.stock_gwh,
        national_capacity.working_capacity_gwh,
        national_capacity.capacity_basis,
        case
            when national_days.groups_missing > 0 then 'incomplete'
            when national_days.groups_carried_forward > 0 then 'carried_forward'
            else 'reported'
        end as status,
        national_days.groups_reported,
        national_days.groups_carried_forward,
        national_days.groups_missing,
        national_days.oldest_report_day as last_reported_day
    from national_days
    cross join national_capacity

),

unioned as (

    -- By position: both selects list the same columns in the same order.
    select * from group_rows
    union all
    select * from national_rows

),

with_change as (

    select
        *,
        lag(stock_gwh) over (partition by storage_group order by gas_day) as previous_stock_gwh,
        lag(gas_day) over (partition by storage_group order by gas_day) as previous_gas_day
    from unioned

),

final as (

    select
        gas_day,
        level,
        operator,
        storage_group,
        stock_gwh,
        case
            -- dbt-duckdb's datediff renders longer than a line, hence the noqa.
            when {{ dbt.datediff('previous_gas_day', 'gas_day', 'day') }} = 1  -- noqa: LT05
                then stock_gwh - previous_stock_gwh
        end as stock_change_gwh,
        working_capacity_gwh,
        capacity_basis,
        stock_gwh / nullif(working_capacity_gwh, 0) * 100.0 as fill_level_pct,
        status,
        last_reported_day,
        groups_reported,
        groups_carried_forward,
        groups_missing
    from with_change

)

select * from final
