{{
    config(
        partition_by=mart_partition('date', 'date'),
        cluster_by=['date'],
    )
}}
-- One row per local day: electricity, gas storage and observed temperature side by side.
with

electricity as (

    select * from {{ ref('int_electricity__daily') }}

),

gas as (

    select * from {{ ref('int_gas_storage__national_daily') }}

),

temperature as (

    select * from {{ ref('int_temperature__national_daily') }}

),

regional_temperature as (

    select * from {{ ref('stg_odre__regional_temperature') }}

),

regional_pivot as (

    select
        observed_on,
        {%- for code, slug in region_columns() %}
        max(case when region_code = {{ code }} then tmean_c end) as tmean_c_{{ slug }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from regional_temperature
    group by observed_on

),

days as (

    select date_local as date from electricity
    union distinct
    select gas_day from gas
    union distinct
    select observed_on from temperature

),

-- A partial day never passes for a full one: its totals, peak, mix and day-ahead error are
-- null, its consumption so far kept apart in partial_consumption_gwh.
completeness as (

    select
        *,
        coalesce(consumption_hours = day_hours, false) as is_consumption_complete,
        coalesce(production_hours = day_hours, false) as is_production_complete
    from electricity

),

final as (

    select
        days.date,
        case
            when electricity.is_consumption_complete then electricity.consumption_gwh
        end as consumption_gwh,
        case
            when not electricity.is_consumption_complete then electricity.consumption_gwh
        end as partial_consumption_gwh,
        case
            when electricity.is_consumption_complete then electricity.consumption_peak_mw
        end as consumption_peak_mw,
        electricity.consumption_hours,
        electricity.day_hours,
        coalesce(electricity.is_consumption_complete, false) as is_consumption_complete,
        electricity.production_hours,
        coalesce(electricity.is_production_complete, false) as is_production_complete,
        {%- for column in production_day_columns() %}
        case
            when electricity.is_production_complete then electricity.{{ column }}
        end as {{ column }},
        {%- endfor %}
        {%- for column in ['forecast_j1_mape_pct', 'forecast_j1_bias_mw'] %}
        case
            when electricity.is_consumption_complete then electricity.{{ column }}
        end as {{ column }},
        {%- endfor %}
        electricity.forecast_j1_instants,
        electricity.data_status as electricity_data_status,
        gas.stock_gwh as gas_stock_gwh,
        gas.is_complete as is_gas_stock_complete,
        gas.groups_reported as gas_groups_reported,
        gas.groups_carried_forward as gas_groups_carried_forward,
        gas.groups_missing as gas_groups_missing,
        temperature.tmin_c,
        temperature.tmean_c,
        temperature.tmax_c,
        temperature.regions_reported as temperature_regions_reported,
        {%- for code, slug in region_columns() %}
        regional_pivot.tmean_c_{{ slug }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from days
    left join completeness as electricity on days.date = electricity.date_local
    left join gas on days.date = gas.gas_day
    left join temperature on days.date = temperature.observed_on
    left join regional_pivot on days.date = regional_pivot.observed_on

)

select * from final
