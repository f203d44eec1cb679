{# The forecast tables written by flows/forecast, empty before the first prediction. #}
{% macro forecast_source(table_name, columns) -%}
    {{ source_or_empty('forecast', table_name, columns) }}
{%- endmacro %}
