{#
  Rolling windows of calendar days over a model with one row per day (and partition):
  `day_number` orders the rows as whole days, so a window of N days spans the N calendar days
  ending on the row's day even where days are missing (RANGE, not ROWS).
#}

{# A day as an integer, for RANGE windows on both DuckDB and BigQuery. #}
{% macro day_number(date_column) -%}
    {{ dbt.datediff("cast('1970-01-01' as date)", date_column, 'day') }}
{%- endmacro %}

{# Sum of an expression over the `days` calendar days ending on the row's day. #}
{% macro rolling_sum(expression, days, partition_by, order_by='day_number') -%}
    sum({{ expression }}) over (
        partition by {{ partition_by }}
        order by {{ order_by }}
        range between {{ days - 1 }} preceding and current row
    )
{%- endmacro %}

{# A rolling sum divided by another (a weighted mean), null when the divisor is 0 or null. #}
{% macro rolling_ratio(numerator, denominator, days, partition_by) -%}
    {{ rolling_sum(numerator, days, partition_by) }}
        / nullif({{ rolling_sum(denominator, days, partition_by) }}, 0)
{%- endmacro %}
