{#
  Partitioning of the marts, for the adapters that have it. BigQuery partitions by month:
  a daily partition per day of a decade of history would pass BigQuery's limit of partitions
  written by one query (4,000). DuckDB has no table partitions: none.
#}
{% macro mart_partition(field, data_type, granularity='month') -%}
    {%- if target.type == 'bigquery' -%}
        {{ return({'field': field, 'data_type': data_type, 'granularity': granularity}) }}
    {%- else -%}
        {{ return(none) }}
    {%- endif -%}
{%- endmacro %}
