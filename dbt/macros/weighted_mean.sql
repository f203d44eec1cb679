{#
  The mean of `value` weighted by `weight` over the rows of the group where the value is
  present (the weights renormalised over them), null when none is: the national temperature
  as the population-weighted mean of the regions reported.
#}
{% macro weighted_mean(value, weight) -%}
    sum({{ value }} * {{ weight }})
        / nullif(sum(case when {{ value }} is not null then {{ weight }} end), 0)
{%- endmacro %}
