-- One row per local day: energy (GWh = sum of hourly mean MW / 1000), peak, mix, carbon
-- intensity and RTE's day-ahead forecast error.
with

hours as (

    select * from {{ ref('int_electricity__hourly') }}

),

quarter_hours as (

    select * from {{ ref('int_electricity__quarter_hourly') }}

),

energy as (

    select
        date_local,
        {{ exact_sum('consumption_mw') }} / 1000.0 as consumption_gwh,
        count(consumption_mw) as consumption_hours,
        count(*) as hours,
        {%- for source in mix_sources() %}
        {{ exact_sum(source ~ '_mw') }} / 1000.0 as {{ source }}_gwh,
        {%- endfor %}
        {{ exact_sum('production_total_mw') }} / 1000.0 as production_gwh,
        count(production_total_mw) as production_hours,
        -- Carbon intensity of the day's generation: hourly intensities weighted by output.
        {{ exact_sum(
            'case when co2_g_per_kwh is not null then co2_g_per_kwh * production_total_mw end'
        ) }}
        / nullif(
            {{ exact_sum('case when co2_g_per_kwh is not null then production_total_mw end') }}, 0
        ) as co2_g_per_kwh,
        min(nature_rank) as nature_rank
    from hours
    group by date_local

),

instants as (

    select
        date_local,
        max(consumption_mw) as consumption_peak_mw,
        -- The day-ahead error over the instants that have both a measure and a forecast.
        {{ exact_avg(
            'case when consumption_mw > 0 and forecast_j1_mw is not null'
            ~ ' then abs(forecast_j1_mw - consumption_mw) / consumption_mw * 100.0 end'
        ) }} as forecast_j1_mape_pct,
        {{ exact_avg(
            'case when consumption_mw is not null then forecast_j1_mw - consumption_mw end'
        ) }} as forecast_j1_bias_mw,
        count(
            case when consumption_mw is not null and forecast_j1_mw is not null then 1 end
        ) as forecast_j1_instants
    from quarter_hours
    group by date_local

),

final as (

    select
        energy.date_local,
        energy.consumption_gwh,
        instants.consumption_peak_mw,
        energy.consumption_hours,
        energy.hours,
        -- The macro renders longer than a line, hence the noqa.
        {{ local_day_hours('energy.date_local') }} as day_hours,  -- noqa: LT05
        {%- for source in mix_sources() %}
        energy.{{ source }}_gwh,
        {%- endfor %}
        energy.production_gwh,
        energy.production_hours,
        {%- for source in production_sources() %}
        energy.{{ source }}_gwh / nullif(energy.production_gwh, 0) as {{ source }}_share,
        {%- endfor %}
        energy.co2_g_per_kwh,
        instants.forecast_j1_mape_pct,
        instants.forecast_j1_bias_mw,
        instants.forecast_j1_instants,
        {{ data_status('energy.nature_rank') }} as data_status
    from energy
    left join instants on energy.date_local = instants.date_local

)

select * from final
