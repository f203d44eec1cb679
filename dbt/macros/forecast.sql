{# A UTC timestamp plus a whole number of hours (an expression), still a UTC timestamp. #}
{% macro add_hours(utc_timestamp, hours) -%}
    {{ return(adapter.dispatch('add_hours', 'aggregat')(utc_timestamp, hours)) }}
{%- endmacro %}

{% macro default__add_hours(utc_timestamp, hours) -%}
    timestamp_add({{ utc_timestamp }}, interval cast({{ hours }} as int64) hour)
{%- endmacro %}

{% macro duckdb__add_hours(utc_timestamp, hours) -%}
    ({{ utc_timestamp }} + cast({{ hours }} as bigint) * interval 1 hour)
{%- endmacro %}

{#
  The daily temperature measures the forecast's inputs carry, national and per region:
  (measure, column prefix).
#}
{% macro forecast_temperature_measures() -%}
    {{ return([('tmin_c', 'tmin_c'), ('tmean_c', 'tmean_c'), ('tmax_c', 'tmax_c')]) }}
{%- endmacro %}
