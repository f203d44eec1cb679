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

{#
  A count of the rows meeting a condition. The models write `count(case when c then 1 end)`,
  BIGINT on DuckDB and INT64 on BigQuery as it is. Kept only while the forecast models
  (rewritten on branch oneway, issue 12) call it: inline it there and delete it.
#}
{% macro count_where(condition) -%}
    cast(sum(case when {{ condition }} then 1 else 0 end) as {{ dbt.type_bigint() }})
{%- endmacro %}
