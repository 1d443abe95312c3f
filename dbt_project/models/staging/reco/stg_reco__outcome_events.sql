with source as (

    select * from {{ source('reco', 'outcome_event') }}

),

final as (

    select
        id as outcome_event_id,
        run_id,
        campaign_id,
        btrim(customer_code) as customer_code,
        is_control,
        order_date,
        doc_ref,
        product_key,
        was_recommended,
        amount_ht,
        created_at

    from source

)

select * from final
