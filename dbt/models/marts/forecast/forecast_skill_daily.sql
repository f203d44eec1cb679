{{
    config(
        partition_by=mart_partition('date_local', 'date'),
        cluster_by=['date_local'],
    )
}}
-- Per local day and horizon: energy of ours, RTE's J-1 and the actual, the day's hourly MAPE
-- and bias, the daily (energy) error of fully measured days, and all of them over rolling
-- 7 and 28 calendar days: hourly measures weigh each measured hour, daily measures each
-- fully measured day.
{#- Every rolling measure: (name, unit, numerator, denominator), named <name>_<N>d_<unit>. #}
{%- set measures = [
    ('mape', 'pct', 'ape_sum', 'measured_hours'),
    ('rte_mape', 'pct', 'rte_ape_sum', 'rte_measured_hours'),
    ('bias', 'mw', 'error_sum', 'measured_hours'),
    ('rte_bias', 'mw', 'rte_error_sum', 'rte_measured_hours'),
    ('daily_mape', 'pct', 'energy_ape_pct', 'is_complete'),
    ('rte_daily_mape', 'pct', 'rte_energy_ape_pct', 'is_rte_complete'),
    ('daily_bias', 'gwh', 'energy_error_gwh', 'is_complete'),
    ('rte_daily_bias', 'gwh', 'rte_energy_error_gwh', 'is_rte_complete'),
] %}
{#- Over the windows last_7d and last_28d (the final CTE's `window` clause). #}
{%- set rolling = [] %}
{%- for window in [7, 28] %}{% for measure in measures %}
{%- set name, unit, numerator, denominator = measure %}
{%- do rolling.append((name ~ '_' ~ window ~ 'd_' ~ unit, numerator, denominator, window)) %}
{%- endfor %}{% endfor %}
with

hours as (

    select * from {{ ref('int_forecast__hourly_scored') }}

),

days as (

    select
        date_local,
        horizon_days,
        max(model_version) as model_version,
        count(*) as forecast_hours,
        count(actual_mw) as measured_hours,
        count(rte_ape_pct) as rte_measured_hours,
        -- Energy in GWh, as in every daily mart: the sum of hourly MW is MWh.
        {{ exact_sum('forecast_p50_mw') }} / 1000.0 as forecast_energy_gwh,
        {{ exact_sum('case when actual_mw is not null then rte_j1_mw end') }} / 1000.0
            as rte_j1_energy_gwh,
        {{ exact_sum('actual_mw') }} / 1000.0 as actual_energy_gwh,
        {{ exact_sum('ape_pct') }} as ape_sum,
        {{ exact_sum('rte_ape_pct') }} as rte_ape_sum,
        {{ exact_sum('error_mw') }} as error_sum,
        {{ exact_sum('case when rte_ape_pct is not null then rte_error_mw end') }}
            as rte_error_sum,
        sum(within_p10_p90) as within_p10_p90_hours
    from hours
    group by date_local, horizon_days

),

-- A day counts in the daily measures only when every forecast hour of it was measured.
scored as (

    select
        *,
        {{ day_number('date_local') }} as day_number,
        case
            when measured_hours = forecast_hours and actual_energy_gwh > 0 then 1 else 0
        end as is_complete,
        case
            when rte_measured_hours = forecast_hours and actual_energy_gwh > 0 then 1 else 0
        end as is_rte_complete
    from days

),

errors as (

    select
        *,
        case
            when is_complete = 1
                then forecast_energy_gwh - actual_energy_gwh
        end as energy_error_gwh,
        case
            when is_rte_complete = 1
                then rte_j1_energy_gwh - actual_energy_gwh
        end as rte_energy_error_gwh,
        case
            when is_complete = 1
                then 100 * abs(forecast_energy_gwh - actual_energy_gwh) / actual_energy_gwh
        end as energy_ape_pct,
        case
            when is_rte_complete = 1
                then 100 * abs(rte_j1_energy_gwh - actual_energy_gwh) / actual_energy_gwh
        end as rte_energy_ape_pct
    from scored

),

final as (

    select
        date_local,
        horizon_days,
        model_version,
        forecast_hours,
        measured_hours,
        forecast_energy_gwh,
        rte_j1_energy_gwh,
        actual_energy_gwh,
        energy_ape_pct,
        rte_energy_ape_pct,
        energy_error_gwh,
        rte_energy_error_gwh,
        ape_sum / nullif(measured_hours, 0) as mape_pct,
        rte_ape_sum / nullif(rte_measured_hours, 0) as rte_mape_pct,
        error_sum / nullif(measured_hours, 0) as bias_mw,
        rte_error_sum / nullif(rte_measured_hours, 0) as rte_bias_mw,
        within_p10_p90_hours,
        {%- for column, numerator, denominator, window in rolling %}
        sum({{ numerator }}) over last_{{ window }}d
        / nullif(sum({{ denominator }}) over last_{{ window }}d, 0) as {{ column }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from errors
    window
        last_7d as (
            partition by horizon_days
            order by day_number
            range between 6 preceding and current row
        ),
        last_28d as (
            partition by horizon_days
            order by day_number
            range between 27 preceding and current row
        )

)

select * from final
