-- Every recorded step run, numbered newest first within its step: runs_ago = 1 is the last
-- run of each step, whichever flow ran it (the daily pipeline or a deployment on its own).
with

runs as (

    select * from {{ ref('stg_pipeline__runs') }}

),

ranked as (

    select
        step_name,
        status,
        status in ('failed', 'warning') as needs_attention,
        started_at,
        ended_at,
        {{ dbt.datediff('started_at', 'ended_at', 'second') }} as duration_seconds,  -- noqa: LT05
        as_of,
        row_count,
        day_partitions,
        message,
        flow_name,
        run_id,
        recorded_at,
        row_number() over (
            partition by step_name
            -- a skipped step has no start: it counts from when its run was recorded
            order by coalesce(started_at, recorded_at) desc, recorded_at desc, run_id desc
        ) as runs_ago
    from runs

),

final as (

    select
        *,
        runs_ago = 1 as is_latest
    from ranked

)

select * from final
