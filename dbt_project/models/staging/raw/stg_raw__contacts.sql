with source as (

    select * from {{ source('raw', 'contact') }}

),

final as (

    select
        id as contact_record_id,
        btrim(customer_code) as customer_code,
        contact_date,
        coalesce(nullif(lower(btrim(channel)), ''), 'email') as channel,
        nullif(btrim(campaign_id), '') as campaign_id,
        nullif(lower(btrim(status)), '') as status,
        batch_id,
        loaded_at

    from source

)

select * from final
