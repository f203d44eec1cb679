{#
  The mean of `value` weighted by `weight` over the rows of the group where the value is
  present (the weights renormalised over them), null when none is: the national temperature
  as the population-weighted mean of the regions reported. Exact sums: the same bits on
  every build (macros/exact.sql).
#}
{% macro weighted_mean(value, weight) -%}
    {{ exact_sum(value ~ ' * ' ~ weight) }}
        / nullif({{ exact_sum('case when ' ~ value ~ ' is not null then ' ~ weight ~ ' end') }}, 0)
{%- endmacro %}
