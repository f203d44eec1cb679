{#
  Conversions between UTC instants and the grid's local civil time (var `local_timezone`,
  Europe/Paris). Warehouse timestamps are UTC: naive TIMESTAMP in DuckDB, TIMESTAMP in
  BigQuery. Local times are naive: DuckDB TIMESTAMP, BigQuery DATETIME.
#}

{# The local wall-clock time of a UTC instant. #}
{% macro to_local_time(utc_timestamp) -%}
    {{ return(adapter.dispatch('to_local_time', 'aggregat')(utc_timestamp)) }}
{%- endmacro %}

{% macro default__to_local_time(utc_timestamp) -%}
    datetime({{ utc_timestamp }}, '{{ var("local_timezone") }}')
{%- endmacro %}

{% macro duckdb__to_local_time(utc_timestamp) -%}
    timezone('{{ var("local_timezone") }}', timezone('UTC', cast({{ utc_timestamp }} as timestamp)))
{%- endmacro %}


{# The UTC instant of a local wall-clock time (e.g. local midnight of a day). #}
{% macro local_to_utc(local_timestamp) -%}
    {{ return(adapter.dispatch('local_to_utc', 'aggregat')(local_timestamp)) }}
{%- endmacro %}

{% macro default__local_to_utc(local_timestamp) -%}
    timestamp({{ local_timestamp }}, '{{ var("local_timezone") }}')
{%- endmacro %}

{% macro duckdb__local_to_utc(local_timestamp) -%}
    timezone('UTC', timezone('{{ var("local_timezone") }}', cast({{ local_timestamp }} as timestamp)))
{%- endmacro %}


{# How many hours a local day lasts (23 on spring-forward, 25 on fall-back, else 24). #}
{% macro local_day_hours(local_date) -%}
    {{ dbt.datediff(
        local_to_utc(local_date_start(local_date)),
        local_to_utc(local_date_start(dbt.dateadd('day', 1, local_date))),
        'hour'
    ) }}
{%- endmacro %}

{% macro local_date_start(local_date) -%}
    {{ return(adapter.dispatch('local_date_start', 'aggregat')(local_date)) }}
{%- endmacro %}

{% macro default__local_date_start(local_date) -%}
    datetime(cast({{ local_date }} as date))
{%- endmacro %}

{% macro duckdb__local_date_start(local_date) -%}
    cast(cast({{ local_date }} as date) as timestamp)
{%- endmacro %}
