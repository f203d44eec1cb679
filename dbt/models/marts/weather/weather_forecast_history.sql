{{
    config(
        partition_by=mart_partition('run_day', 'date', 'day'),
        require_partition_filter=true,
        cluster_by=['forecast_model', 'valid_at', 'region_code'],
    )
}}
-- Every run ever archived, for readers of past runs (backtests, analyses), partitioned by run
-- day: a query filtering on run_day reads only those partitions (BigQuery prunes them and
-- refuses a query without the filter; DuckDB keeps the rows ordered by run day, so its zone
-- maps skip the rest).
with

forecasts as (

    select * from {{ ref('stg_meteofrance__features_hourly') }}

)

select * from forecasts
order by run_day, forecast_model, valid_at, region_code
