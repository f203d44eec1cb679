{#
  The days among the model's last `days` days (of rows matching `when`) on which the column
  has no value at all: for a field the source may drop (declared optional in
  flows/odre/schemas.py), whose absence from an export stages it as null on every row.
#}
{% test reported_each_recent_day(model, column_name, day_column, when='1 = 1', days=7) %}
with

per_day as (

    select
        {{ day_column }} as reported_day,
        count({{ column_name }}) as values_reported
    from {{ model }}
    where {{ when }}
    group by {{ day_column }}

),

latest as (

    select max(reported_day) as last_day from per_day

)

select
    per_day.reported_day as day_without_values,
    '{{ column_name }}' as null_column
from per_day
cross join latest
where
    per_day.values_reported = 0
    and per_day.reported_day > cast({{ dbt.dateadd('day', -days, 'latest.last_day') }} as date)
{% endtest %}
