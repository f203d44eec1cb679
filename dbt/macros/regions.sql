{#
  The 13 metropolitan regions as (INSEE code, slug) for per-region columns. The same list as
  seeds/regions.csv and flows/regions.py (tests/dbt/test_marts.py checks all three agree):
  columns must be known when the SQL compiles, before any seed is loaded.
#}
{% macro region_columns() -%}
    {{ return([
        (11, 'ile_de_france'),
        (24, 'centre_val_de_loire'),
        (27, 'bourgogne_franche_comte'),
        (28, 'normandie'),
        (32, 'hauts_de_france'),
        (44, 'grand_est'),
        (52, 'pays_de_la_loire'),
        (53, 'bretagne'),
        (75, 'nouvelle_aquitaine'),
        (76, 'occitanie'),
        (84, 'auvergne_rhone_alpes'),
        (93, 'provence_alpes_cote_d_azur'),
        (94, 'corse'),
    ]) }}
{%- endmacro %}
