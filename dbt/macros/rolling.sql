{#
  Rolling windows of calendar days over a model with one row per day (and partition):
  `day_number` orders the rows as whole days, so a window `order by day_number range between
  N - 1 preceding and current row` spans the N calendar days ending on the row's day even
  where days are missing (RANGE, not ROWS).
#}

{# A day as an integer, for RANGE windows on both DuckDB and BigQuery. #}
{% macro day_number(date_column) -%}
    {{ dbt.datediff("cast('1970-01-01' as date)", date_column, 'day') }}
{%- endmacro %}
