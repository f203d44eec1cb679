{#
  Incremental builds by whole UTC months. An incremental model rebuilds every month in which
  an upstream row was (re)loaded since the model's own watermark (minus a safety margin of
  var('incremental_margin_days') for loads that land out of order), and replaces those months
  whole: on DuckDB with `replace_months` below, on BigQuery the same batches are whole
  monthly partitions, so insert_overwrite replaces exactly them (a row that left the source
  leaves the model too, as in a rebuild). The months are found when the model
  runs (run_query) and written into the SQL as constants, so BigQuery can prune partitions.
#}

{#
  The first days (YYYY-MM-01) of the months to rebuild, or none for all of them (the model
  has no watermark column yet: built before it was incremental). `upstreams` is a list of
  (relation, time column, load-time column); `watermark` a load-time column of this model.
#}
{% macro changed_months(upstreams, watermark) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set existing = adapter.get_columns_in_relation(this) | map(attribute='name')
        | map('lower') | list -%}
    {%- if watermark | lower not in existing -%}
        {{ return(none) }}
    {%- endif -%}
    {#- A mart built with require_partition_filter is read with a filter that keeps it all. -#}
    {%- set partition = config.get('partition_by') if config.get('require_partition_filter') -%}
    {%- set since -%}
        coalesce(
            {{ timestamp_minus_days('max(' ~ watermark ~ ')', var('incremental_margin_days')) }},
            cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }})
        )
    {%- endset -%}
    {%- set query -%}
        {% for relation, time_column, loaded_column in upstreams %}
        select distinct cast({{ dbt.date_trunc('month', time_column) }} as date) as month_start
        from {{ relation }}
        where {{ loaded_column }} > (
            select {{ since }} from {{ this }}
            {%- if partition %} where {{ partition_filter_all(partition.field) }}{% endif %}
        )
        {% if not loop.last %}union distinct{% endif %}
        {% endfor %}
    {%- endset -%}
    {%- set months = [] -%}
    {%- for row in run_query(query).rows -%}
        {%- do months.append(row[0] | string) -%}
    {%- endfor -%}
    {{ return(months | sort) }}
{%- endmacro %}


{#
  A WHERE condition keeping the rows of the given months: all rows when months is none,
  none when it is empty. `time_column` is a DATE or TIMESTAMP column.
#}
{% macro in_months(time_column, months) -%}
    {%- if months is none -%}
        1 = 1
    {%- elif months | length == 0 -%}
        1 = 0
    {%- else -%}
        {{ time_column }} >= cast('{{ months[0] }}' as date)
        and cast({{ dbt.date_trunc('month', time_column) }} as date) in (
            {%- for month in months %}
            cast('{{ month }}' as date){{ ',' if not loop.last }}
            {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}


{# The incremental strategy of the month-batched models; BigQuery overrides it. #}
{% macro monthly_incremental_strategy() -%}
    {{ return(adapter.dispatch('monthly_incremental_strategy', 'aggregat')()) }}
{%- endmacro %}

{% macro default__monthly_incremental_strategy() -%}
    {{ return('replace_months') }}
{%- endmacro %}


{# A UTC timestamp some days earlier, staying a TIMESTAMP on every adapter. #}
{% macro timestamp_minus_days(timestamp, days) -%}
    {{ return(adapter.dispatch('timestamp_minus_days', 'aggregat')(timestamp, days)) }}
{%- endmacro %}

{% macro default__timestamp_minus_days(timestamp, days) -%}
    timestamp_sub({{ timestamp }}, interval {{ days }} day)
{%- endmacro %}

{% macro duckdb__timestamp_minus_days(timestamp, days) -%}
    ({{ timestamp }} - interval ({{ days }}) day)
{%- endmacro %}


{#
  The month-batched models' strategy on DuckDB: every UTC month present in the new batch is
  replaced whole (deleted, then inserted), as BigQuery's insert_overwrite replaces monthly
  partitions. A row-key delete+insert would keep rows the source has since removed.
  `unique_key` names the model's UTC time column.
#}
{% macro get_incremental_replace_months_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set batch = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set month = 'cast(' ~ dbt.date_trunc('month', arg_dict['unique_key']) ~ ' as date)' -%}
    delete from {{ target }}
    where {{ month }} in (select distinct {{ month }} from {{ batch }});

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ batch }}
{%- endmacro %}
