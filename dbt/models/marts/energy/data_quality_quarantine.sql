-- The days kept out of the production marts because their data fails a quality rule, with
-- the column and the rule: re-fetched from the source by every run until they pass.
with

quality as (

    select * from {{ ref('int_electricity__quality') }}

),

final as (

    select
        date_local,
        column_name,
        rule_name,
        failing_instants,
        first_failing_at,
        lowest_failing_mw,
        highest_failing_mw
    from quality

)

select * from final
