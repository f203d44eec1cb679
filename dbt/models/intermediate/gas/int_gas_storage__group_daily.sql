-- One row per storage group and gas day, from the group's first report on, for every day
-- some group reported. A group that has not reported a day (it can lag the others by weeks)
-- keeps its last reported stock for at most var('gas_carry_forward_days') days, flagged
-- `carried_forward`; past that its stock is null and the row is `missing`.
with

stocks as (

    select * from {{ ref('stg_odre__gas_storage') }}

),

groups as (

    select
        storage_group,
        min(operator) as operator,
        min(gas_day) as first_reported_day
    from stocks
    group by storage_group

),

days as (

    select distinct gas_day from stocks

),

grid as (

    select
        days.gas_day,
        groups.operator,
        groups.storage_group
    from days
    cross join groups
    where days.gas_day >= groups.first_reported_day

),

joined as (

    select
        grid.gas_day,
        grid.operator,
        grid.storage_group,
        stocks.stock_gwh as reported_stock_gwh,
        case when stocks.stock_gwh is not null then grid.gas_day end as reported_day
    from grid
    left join stocks
        on grid.gas_day = stocks.gas_day
        and grid.storage_group = stocks.storage_group

),

filled as (

    select
        *,
        last_value(reported_stock_gwh ignore nulls) over (
            partition by storage_group
            order by gas_day
            rows between unbounded preceding and current row
        ) as last_stock_gwh,
        last_value(reported_day ignore nulls) over (
            partition by storage_group
            order by gas_day
            rows between unbounded preceding and current row
        ) as last_reported_day
    from joined

),

aged as (

    select
        *,
        {{ dbt.datediff('last_reported_day', 'gas_day', 'day') }}
            as days_since_report
    from filled

),

final as (

    select
        gas_day,
        operator,
        storage_group,
        case
            when reported_stock_gwh is not null then reported_stock_gwh
            when days_since_report <= {{ var('gas_carry_forward_days') }} then last_stock_gwh
        end as stock_gwh,
        case
            when reported_stock_gwh is not null then 'reported'
            when days_since_report <= {{ var('gas_carry_forward_days') }} then 'carried_forward'
            else 'missing'
        end as report_status,
        last_reported_day,
        days_since_report
    from aged

)

select * from final
