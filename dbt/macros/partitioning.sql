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


{#
  The large marts that readers filter by date (energy_mix_hourly, weather_forecast_history)
  are built with `require_partition_filter`: on BigQuery a query of them without a filter on
  the partition column fails instead of scanning every partition. The project's own readers
  that do want every row say so with `partition_filter_all`, a predicate on the partition
  column that BigQuery accepts as a partition filter and that keeps every row (the column is
  never null in these marts).
#}
{% macro partition_filter_all(field) -%}
    {{ field }} is not null
{%- endmacro %}


{# The partition column of a model built with require_partition_filter, else none. #}
{% macro required_partition_field(relation) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model'
        and node.config.get('require_partition_filter')
        and (node.alias or node.name) | lower == relation.identifier | lower
        and node.schema | lower == relation.schema | lower -%}
        {%- set partition = node.config.get('partition_by') -%}
        {{ return(partition.field if partition else none) }}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}
