{# The weather staging tables, empty before the first `load` step created them. #}
{% macro meteofrance_source(table_name, columns) -%}
    {{ source_or_empty('meteofrance', table_name, columns) }}
{%- endmacro %}
