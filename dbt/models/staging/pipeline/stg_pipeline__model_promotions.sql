-- The model registry's champion/challenger decisions, renamed and typed.
with

source as (

    select * from {{ source_or_empty('pipeline', 'model_promotions', [
        'day', 'version', 'decided_at', 'decision', 'promoted', 'champion_before',
        'challenger_mape', 'champion_mape', 'holdout_start', 'holdout_end', 'rule', 'reason',
        'recorded_at',
    ]) }}

),

renamed as (

    select
        cast(version as {{ dbt.type_string() }}) as model_version,
        cast(decided_at as {{ dbt.type_timestamp() }}) as decided_at,
        cast(decision as {{ dbt.type_string() }}) as decision,
        cast(promoted as {{ dbt.type_boolean() }}) as is_promoted,
        cast(champion_before as {{ dbt.type_string() }}) as champion_before,
        cast(challenger_mape as {{ type_double() }}) as challenger_mape_pct,
        cast(champion_mape as {{ type_double() }}) as champion_mape_pct,
        cast(holdout_start as date) as holdout_start,
        cast(holdout_end as date) as holdout_end,
        cast(rule as {{ dbt.type_string() }}) as promotion_rule,
        cast(reason as {{ dbt.type_string() }}) as reason,
        cast(recorded_at as {{ dbt.type_timestamp() }}) as recorded_at,
        cast(day as date) as decided_on
    from source

)

select * from renamed
