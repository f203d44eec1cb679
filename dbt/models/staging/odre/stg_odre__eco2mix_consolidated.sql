-- Consolidated and definitive national electricity (eco2mix-national-cons-def), renamed and typed.
with

source as (

    select * from {{ source('odre', 'eco2mix_national_cons_def') }}

),

renamed as (

    {{ eco2mix_staging_select('source') }}

)

select * from renamed
