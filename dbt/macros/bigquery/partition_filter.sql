{#
  Data tests read the model through this macro (dbt's `where` config): on a mart that
  requires a partition filter, every test also gets `partition_filter_all`, so tests on any
  column keep running on BigQuery.
#}
{% macro bigquery__get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- set field = required_partition_field(relation) -%}
    {%- if field -%}
        {%- set where = partition_filter_all(field) ~ (' and (' ~ where ~ ')' if where else '') -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}
