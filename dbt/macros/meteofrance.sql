{#
  The weather staging tables, or an empty result with their columns before they exist.
  flows/staging.py creates them on the first `load` step (even with nothing to load); until
  then (a fresh warehouse, a dbt build of the ODRÉ marts alone) the weather models build
  empty instead of failing the whole project.
#}
{% macro meteofrance_source(table_name, columns) -%}
    {%- set relation = source('meteofrance', table_name) -%}
    {%- if execute and adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier
        ) is none -%}
        (
            select
            {%- for column in columns %}
                cast(null as {{ dbt.type_string() }}) as {{ column }}{{ ',' if not loop.last }}
            {%- endfor %}
            from (select 1 as one) as not_loaded_yet
            where 1 = 0
        )
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}
