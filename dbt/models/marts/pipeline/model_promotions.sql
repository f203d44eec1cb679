-- The model registry's promotion history: every decision with the scores it compared, and
-- which version is the champion now (the challenger of the latest promotion).
with

decisions as (

    select * from {{ ref('stg_pipeline__model_promotions') }}

),

promotions as (

    select
        model_version,
        decided_at,
        row_number() over (
            order by decided_at desc, model_version desc
        ) as promotions_ago
    from decisions
    where decision = 'promote'

),

champion as (

    select
        model_version,
        decided_at as champion_since
    from promotions
    where promotions_ago = 1

),

final as (

    select
        decisions.model_version,
        decisions.decided_at,
        decisions.decision,
        decisions.is_promoted,
        champion.champion_since,
        decisions.champion_before,
        decisions.challenger_mape_pct,
        decisions.champion_mape_pct,
        decisions.holdout_start,
        decisions.holdout_end,
        decisions.promotion_rule,
        decisions.reason,
        decisions.recorded_at,
        champion.model_version is not null as is_champion,
        decisions.challenger_mape_pct - decisions.champion_mape_pct as mape_change_points
    from decisions
    left join champion
        on decisions.model_version = champion.model_version

)

select * from final
