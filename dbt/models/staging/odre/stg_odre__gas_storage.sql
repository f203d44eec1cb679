-- End-of-day gas stock per storage group (stock-quotidien-stockages-gaz), renamed and typed.
with

stocks as (

    select * from {{ source('odre', 'stock_quotidien_stockages_gaz') }}

),

renamed as (

    select
        cast(date as date) as gas_day,
        cast(stocks.source as {{ dbt.type_string() }}) as operator,
        cast(pits as {{ dbt.type_string() }}) as storage_group,
        cast(stock_fin_de_journee as {{ type_double() }}) as stock_gwh,
        cast(ingested_at as {{ dbt.type_timestamp() }}) as ingested_at
    from stocks

),

final as (

    select * from renamed

)

select * from final
