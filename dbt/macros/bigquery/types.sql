{# The 64-bit float of macros/types.sql on BigQuery. #}
{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}
