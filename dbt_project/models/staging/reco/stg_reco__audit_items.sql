with source as (

    select * from {{ source('reco', 'audit_item') }}

),

final as (

    select
        id as audit_item_id,
        run_id,
        customer_code,
        kind,
        reason_code,
        severity,
        product_key,
        details_json::{{ sql_type('jsonb') }} as details_json

    from source

)

select * from final
