{#
  Models build in exactly the schema their folder configures (`development` or `production`,
  from the AGGREGAT_*_DATASET environment variables), never `<target schema>_<custom>` as dbt
  does by default: the dashboard and the forecast read fixed names.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
