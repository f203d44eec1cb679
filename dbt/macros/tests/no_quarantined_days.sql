{#
  The quarantined days of the model, one failing row each; every one also named as a dbt
  warning (day, column, rule), since dbt's own line only counts failing rows.
#}
{% test no_quarantined_days(model) %}
{#- Only when the test runs (not when docs or compile render it) and the model is built. #}
{%- if execute and flags.WHICH in ('build', 'test') and load_relation(model) is not none %}
    {%- set found = run_query(
        'select date_local, column_name, rule_name, failing_instants, lowest_failing_mw,'
        ~ ' highest_failing_mw from ' ~ model ~ ' order by date_local, column_name, rule_name'
    ) %}
    {%- for row in found.rows %}
        {%- do exceptions.warn(
            'data quality: ' ~ row[0] ~ ' ' ~ row[1] ~ ' quarantined (' ~ row[2] ~ ': '
            ~ row[3] ~ ' instants, ' ~ row[4] ~ '..' ~ row[5] ~ ' MW), kept out of the'
            ~ ' production marts until the source corrects it'
        ) %}
    {%- endfor %}
{%- endif %}
select *
from {{ model }}
{% endtest %}
