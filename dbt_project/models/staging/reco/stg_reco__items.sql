with source as (

    select * from {{ source('reco', 'reco_item') }}

),

final as (

    select
        id as reco_item_id,
        run_id,
        customer_code,
        scenario,
        rank,
        product_key,
        score,
        -- json (not jsonb) in reco's table: cast once here so that every reader can use the
        -- jsonb operators
        reasons_json::{{ sql_type('jsonb') }} as reasons_json

    from source

)

select * from final
