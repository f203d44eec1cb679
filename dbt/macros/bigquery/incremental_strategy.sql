{#
  On BigQuery the month batches of the incremental models (macros/incremental.sql) are whole
  monthly partitions: insert_overwrite replaces exactly them (dbt-bigquery has no delete+insert).
#}
{% macro bigquery__monthly_incremental_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}
