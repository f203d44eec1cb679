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

final as (

    select
        days.date,
        electricity.consumption_gwh,
        electricity.consumption_peak_mw,
        electricity.consumption_hours,
        electricity.day_hours,
        coalesce(electricity.consumption_hours = electricity.day_hours, false)
            as is_consumption_complete,
        {%- for source in mix_sources() %}
        electricity.{{ source }}_gwh,
        {%- endfor %}
        electricity.production_gwh,
        {%- for source in production_sources() %}
        electricity.{{ source }}_share,
        {%- endfor %}
        electricity.co2_g_per_kwh,
        electricity.forecast_j1_mape_pct,
        electricity.forecast_j1_bias_mw,
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
    left join electricity on days.date = electricity.date_local
    left join gas on days.date = gas.gas_day
    left join temperature on days.date = temperature.observed_on
    left join regional_pivot on days.date = regional_pivot.observed_on

)

select * from final
