{#
  The forecast's production tables (written by flows/forecast, not by dbt), or an empty result
  with their columns before the first prediction wrote them: a fresh warehouse builds the
  skill marts empty instead of failing the whole project.
#}
{% macro forecast_source(table_name, columns) -%}
    {%- set relation = source('forecast', table_name) -%}
    {%- if execute and adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier
        ) is none -%}
        (
            select
            {%- for column in columns %}
                cast(null as {{ dbt.type_string() }}) as {{ column }}{{ ',' if not loop.last }}
            {%- endfor %}
            from (select 1 as one) as not_written_yet
            where 1 = 0
        )
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}
