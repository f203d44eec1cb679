-- Real-time national electricity (eco2mix-national-tr), renamed and typed.
with

source as (

    select * from {{ source('odre', 'eco2mix_national_tr') }}

),

renamed as (

    {{ eco2mix_staging_select('source') }}

)

select * from renamed
