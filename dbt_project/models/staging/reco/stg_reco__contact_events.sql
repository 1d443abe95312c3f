with source as (

    select * from {{ source('reco', 'contact_event') }}

),

final as (

    select
        id as contact_event_id,
        btrim(customer_code) as customer_code,
        contact_date,
        lower(channel) as channel,
        campaign_id,
        run_id,
        scenario,
        is_control,
        created_at

    from source

)

select * from final
