-- One row per gas day: the national stock as the sum over storage groups, counting a
-- lagging group at its carried-forward stock; `is_complete` is false when a group is
-- missing beyond the carry-forward limit (the sum then lacks that group).
with

groups as (

    select * from {{ ref('int_gas_storage__group_daily') }}

),

national as (

    select
        gas_day,
        {{ exact_sum('stock_gwh') }} as stock_gwh,
        count(*) as groups_expected,
        count(case when report_status = 'reported' then 1 end) as groups_reported,
        count(case when report_status = 'carried_forward' then 1 end) as groups_carried_forward,
        count(case when report_status = 'missing' then 1 end) as groups_missing,
        min(last_reported_day) as oldest_report_day
    from groups
    group by gas_day

),

final as (

    select
        *,
        groups_missing = 0 as is_complete
    from national

)

select * from final
