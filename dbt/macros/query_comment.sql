{#
  The comment dbt puts on every query (dbt_project.yml `query-comment`). On BigQuery it also
  becomes the job's labels (`job-label: true`): app, environment and the Prefect flow that ran
  dbt (set by flows/transform.py), as the project's own jobs have (flows/bigquery.py), plus
  the node, so the billing export shows what each model costs.
#}
{% macro query_comment(node) -%}
    {%- set labels = {
        'app': 'aggregat',
        'env': env_var('AGGREGAT_ENV', 'dev'),
        'flow': env_var('AGGREGAT_JOB_FLOW', 'dbt'),
        'node': node.name if node is not none else 'none',
    } -%}
    {{ return(tojson(labels)) }}
{%- endmacro %}
