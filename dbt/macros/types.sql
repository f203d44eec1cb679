{#
  A 64-bit float. type_double() is FLOAT64 on BigQuery but FLOAT (32-bit REAL) on DuckDB,
  which would round gas stocks and MW values: use DOUBLE there.
#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'aggregat')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    {{ dbt.type_float() }}
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}
