{#
  A source table, or an empty result with the given columns while the table does not exist
  yet: tables written outside dbt (weather staging, forecasts) appear only after their first
  load, and a fresh warehouse must still build the whole project instead of failing.
#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
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
