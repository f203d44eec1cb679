{#
  eCO2mix source fields and their English names in the models: (source field, model column).
  Both electricity staging models use it so the real-time and consolidated rows line up.
  MW unless the name says otherwise.
#}
{% macro eco2mix_measures() -%}
    {{ return([
        ('consommation', 'consumption_mw'),
        ('prevision_j1', 'forecast_j1_mw'),
        ('prevision_j', 'forecast_j_mw'),
        ('nucleaire', 'nuclear_mw'),
        ('eolien', 'wind_mw'),
        ('solaire', 'solar_mw'),
        ('hydraulique', 'hydro_mw'),
        ('gaz', 'gas_mw'),
        ('charbon', 'coal_mw'),
        ('fioul', 'oil_mw'),
        ('bioenergies', 'bioenergy_mw'),
        ('pompage', 'pumping_mw'),
        ('ech_physiques', 'exchanges_mw'),
        ('taux_co2', 'co2_g_per_kwh'),
        ('ech_comm_angleterre', 'trade_england_mw'),
        ('ech_comm_espagne', 'trade_spain_mw'),
        ('ech_comm_italie', 'trade_italy_mw'),
        ('ech_comm_suisse', 'trade_switzerland_mw'),
        ('ech_comm_allemagne_belgique', 'trade_germany_belgium_mw'),
        ('fioul_tac', 'oil_combustion_turbine_mw'),
        ('fioul_cogen', 'oil_cogeneration_mw'),
        ('fioul_autres', 'oil_other_mw'),
        ('gaz_tac', 'gas_combustion_turbine_mw'),
        ('gaz_cogen', 'gas_cogeneration_mw'),
        ('gaz_ccg', 'gas_combined_cycle_mw'),
        ('gaz_autres', 'gas_other_mw'),
        ('hydraulique_fil_eau_eclusee', 'hydro_run_of_river_mw'),
        ('hydraulique_lacs', 'hydro_reservoir_mw'),
        ('hydraulique_step_turbinage', 'hydro_pumped_storage_mw'),
        ('bioenergies_dechets', 'bioenergy_waste_mw'),
        ('bioenergies_biomasse', 'bioenergy_biomass_mw'),
        ('bioenergies_biogaz', 'bioenergy_biogas_mw'),
        ('eolien_terrestre', 'wind_onshore_mw'),
        ('eolien_offshore', 'wind_offshore_mw'),
        ('stockage_batterie', 'battery_charging_mw'),
        ('destockage_batterie', 'battery_discharging_mw'),
    ]) }}
{%- endmacro %}

{# The generating sources summed into total production (pumping and exchanges excluded). #}
{% macro production_sources() -%}
    {{ return(['nuclear', 'wind', 'solar', 'hydro', 'gas', 'coal', 'oil', 'bioenergy']) }}
{%- endmacro %}

{# The columns the hourly mart carries per source, in the contract's order. #}
{% macro mix_sources() -%}
    {{ return(production_sources() + ['pumping', 'exchanges']) }}
{%- endmacro %}

{# A staging select of one eCO2mix table: typed, renamed. #}
{% macro eco2mix_staging_select(source_relation) -%}
    select
        cast(date_heure as {{ dbt.type_timestamp() }}) as measured_at,
        cast(day as date) as measured_day_utc,
        cast(perimetre as {{ dbt.type_string() }}) as perimeter,
        cast(nature as {{ dbt.type_string() }}) as data_nature,
        {%- for field, column in eco2mix_measures() %}
        cast({{ field }} as {{ type_double() }}) as {{ column }},
        {%- endfor %}
        cast(ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from {{ source_relation }}
{%- endmacro %}

{# The sum of the columns that are not null; null when all are null. #}
{% macro sum_present(columns) -%}
    case
        when {% for c in columns %}{{ c }} is null{{ ' and ' if not loop.last }}{% endfor %} then null
        else {% for c in columns %}coalesce({{ c }}, 0){{ ' + ' if not loop.last }}{% endfor %}
    end
{%- endmacro %}

{# The MW columns of the generating sources. #}
{% macro production_mw_columns() -%}
    {%- set columns = [] -%}
    {%- for source in production_sources() %}{% do columns.append(source ~ '_mw') %}{% endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{# The label of an eCO2mix status rank (3 definitive, 2 consolidated, 1 real-time). #}
{% macro data_status(rank_expression) -%}
    case {{ rank_expression }}
        when 3 then 'definitive'
        when 2 then 'consolidated'
        else 'realtime'
    end
{%- endmacro %}

{#- The production columns of a day: null unless every hour of it has a production value. #}
{%- macro production_day_columns() -%}
    {%- set columns = [] -%}
    {%- for source in mix_sources() %}{% do columns.append(source ~ '_gwh') %}{% endfor -%}
    {%- do columns.append('production_gwh') -%}
    {%- for source in production_sources() %}{% do columns.append(source ~ '_share') %}{% endfor -%}
    {%- do columns.append('co2_g_per_kwh') -%}
    {{ return(columns) }}
{%- endmacro %}
