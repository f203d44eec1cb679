{#
  Sums and means that give the same bits on every run. Floating-point addition is not
  associative, and both DuckDB's parallel aggregation and BigQuery add rows in whatever order
  their workers finish, so a plain sum over doubles can differ in its last bits between two
  builds of the same data. Each value is rounded to a millionth of its unit (far below the
  sources' precision: whole MW, GWh to the MWh) and summed as an integer, which is exact in any
  order; integers stay below 2^63 up to totals of about 9e12 units. (A cast to a decimal type
  would do the same on DuckDB, but BigQuery's emulator rounds floats cast to NUMERIC.)
#}
{% macro exact_sum(expression) -%}
    (sum(cast(round(({{ expression }}) * 1000000) as {{ dbt.type_bigint() }})) / 1000000.0)
{%- endmacro %}

{% macro exact_avg(expression) -%}
    ({{ exact_sum(expression) }} / nullif(count({{ expression }}), 0))
{%- endmacro %}
