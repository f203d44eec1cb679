-- One row per local day, column and data-quality rule the day fails: such a day is kept out
-- of int_electricity__hourly (and every mart built from it) until the source corrects it,
-- and the ingestion re-fetches it on every run until then. Rules on the day's instants:
--   range      a value outside the plausible national range;
--   jump       an isolated spike: far from both its neighbours, on the same side;
--   flat_line  the same value at many consecutive instants (a frozen meter).
{%- set column = 'consumption_mw' %}
{%- set low, high = 10000, 120000 %}
{%- set spike_mw = 15000 %}
{%- set flat_instants = 12 %}
with

instants as (

    select
        measured_at,
        cast({{ to_local_time('measured_at') }} as date) as date_local,
        {{ column }} as value_mw
    from {{ ref('int_electricity__quarter_hourly') }}
    where {{ column }} is not null

),

neighbours as (

    select
        *,
        lag(value_mw) over (order by measured_at) as previous_mw,
        lead(value_mw) over (order by measured_at) as next_mw
    from instants

),

runs as (

    select
        *,
        -- A new run of equal values starts wherever the value changes.
        sum(case when value_mw = previous_mw then 0 else 1 end)
            over (order by measured_at rows between unbounded preceding and current row)
            as run_number
    from neighbours

),

run_lengths as (

    select
        *,
        count(*) over (partition by run_number) as run_instants
    from runs

),

failing as (

    select
        date_local,
        measured_at,
        value_mw,
        'range' as rule_name
    from run_lengths
    where value_mw < {{ low }} or value_mw > {{ high }}
    union all
    select
        date_local,
        measured_at,
        value_mw,
        'jump' as rule_name
    from run_lengths
    where
        abs(value_mw - previous_mw) > {{ spike_mw }}
        and abs(value_mw - next_mw) > {{ spike_mw }}
        and sign(value_mw - previous_mw) = sign(value_mw - next_mw)
    union all
    select
        date_local,
        measured_at,
        value_mw,
        'flat_line' as rule_name
    from run_lengths
    where run_instants >= {{ flat_instants }}

),

final as (

    select
        date_local,
        '{{ column }}' as column_name,
        rule_name,
        count(*) as failing_instants,
        min(measured_at) as first_failing_at,
        min(value_mw) as lowest_failing_mw,
        max(value_mw) as highest_failing_mw
    from failing
    group by date_local, rule_name

)

select * from final
