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

{# A count as a 64-bit integer (DuckDB sums integers into HUGEINT). #}
{% macro count_where(condition) -%}
    cast(sum(case when {{ condition }} then 1 else 0 end) as {{ dbt.type_bigint() }})
{%- endmacro %}
