-- End-of-day gas stock per storage group (stock-quotidien-stockages-gaz), renamed and typed.
with

stocks as (

    select * from {{ source('odre', 'stock_quotidien_stockages_gaz') }}

),

renamed as (

    select
        -- Qualified throughout: the source has a column named `source`.
        cast(stocks.date as date) as gas_day,
        cast(stocks.source as {{ dbt.type_string() }}) as operator,
        cast(stocks.pits as {{ dbt.type_string() }}) as storage_group,
        cast(stocks.stock_fin_de_journee as {{ type_double() }}) as stock_gwh,
        cast(stocks.ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from stocks

)

select * from renamed
