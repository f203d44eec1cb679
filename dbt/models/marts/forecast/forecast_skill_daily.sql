{{
    config(
        partition_by=mart_partition('date_local', 'date'),
        cluster_by=['date_local'],
    )
}}
-- Per local day and horizon: energy of ours, RTE's J-1 and the actual, the day's hourly MAPE
-- and bias, and the same over rolling 7 and 28 days (hour-weighted).
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
        {{ count_where('actual_mw is not null') }} as measured_hours,
        {{ count_where('rte_ape_pct is not null') }} as rte_measured_hours,
        sum(forecast_p50_mw) as forecast_energy_mwh,
        sum(case when actual_mw is not null then rte_j1_mw end) as rte_j1_energy_mwh,
        sum(actual_mw) as actual_energy_mwh,
        sum(ape_pct) as ape_sum,
        sum(rte_ape_pct) as rte_ape_sum,
        sum(error_mw) as error_sum,
        sum(case when rte_ape_pct is not null then rte_error_mw end) as rte_error_sum,
        sum(within_p10_p90) as within_p10_p90_hours
    from hours
    group by date_local, horizon_days

),

rolling as (

    select
        days.date_local,
        days.horizon_days,
        {%- for window in [7, 28] %}
        sum(case when past.date_local > {{ dbt.dateadd('day', -window, 'days.date_local') }}
            then past.ape_sum end)
            / nullif(sum(case when past.date_local > {{ dbt.dateadd('day', -window, 'days.date_local') }}
            then past.measured_hours end), 0) as mape_{{ window }}d_pct,
        sum(case when past.date_local > {{ dbt.dateadd('day', -window, 'days.date_local') }}
            then past.rte_ape_sum end)
            / nullif(sum(case when past.date_local > {{ dbt.dateadd('day', -window, 'days.date_local') }}
            then past.rte_measured_hours end), 0) as rte_mape_{{ window }}d_pct,
        sum(case when past.date_local > {{ dbt.dateadd('day', -window, 'days.date_local') }}
            then past.error_sum end)
            / nullif(sum(case when past.date_local > {{ dbt.dateadd('day', -window, 'days.date_local') }}
            then past.measured_hours end), 0) as bias_{{ window }}d_mw,
        sum(case when past.date_local > {{ dbt.dateadd('day', -window, 'days.date_local') }}
            then past.rte_error_sum end)
            / nullif(sum(case when past.date_local > {{ dbt.dateadd('day', -window, 'days.date_local') }}
            then past.rte_measured_hours end), 0) as rte_bias_{{ window }}d_mw
        {{- ',' if not loop.last }}
        {%- endfor %}
    from days
    inner join days as past
        on past.horizon_days = days.horizon_days
        and past.date_local <= days.date_local
        and past.date_local > {{ dbt.dateadd('day', -28, 'days.date_local') }}
    group by days.date_local, days.horizon_days

),

final as (

    select
        days.date_local,
        days.horizon_days,
        days.model_version,
        days.forecast_hours,
        days.measured_hours,
        days.forecast_energy_mwh,
        days.rte_j1_energy_mwh,
        days.actual_energy_mwh,
        case when days.measured_hours = days.forecast_hours and days.actual_energy_mwh > 0
            then 100 * abs(days.forecast_energy_mwh - days.actual_energy_mwh) / days.actual_energy_mwh
        end as energy_ape_pct,
        case when days.rte_measured_hours = days.forecast_hours and days.actual_energy_mwh > 0
            then 100 * abs(days.rte_j1_energy_mwh - days.actual_energy_mwh) / days.actual_energy_mwh
        end as rte_energy_ape_pct,
        days.ape_sum / nullif(days.measured_hours, 0) as mape_pct,
        days.rte_ape_sum / nullif(days.rte_measured_hours, 0) as rte_mape_pct,
        days.error_sum / nullif(days.measured_hours, 0) as bias_mw,
        days.rte_error_sum / nullif(days.rte_measured_hours, 0) as rte_bias_mw,
        days.within_p10_p90_hours,
        rolling.mape_7d_pct,
        rolling.rte_mape_7d_pct,
        rolling.bias_7d_mw,
        rolling.rte_bias_7d_mw,
        rolling.mape_28d_pct,
        rolling.rte_mape_28d_pct,
        rolling.bias_28d_mw,
        rolling.rte_bias_28d_mw
    from days
    inner join rolling
        on rolling.date_local = days.date_local
        and rolling.horizon_days = days.horizon_days

)

select * from final
