with source as (

    select * from {{ source('raw', 'product_alias') }}

),

final as (

    select
        id as alias_record_id,
        alias_label,
        {{ normalize_label('alias_label') }} as alias_label_normalized,
        btrim(product_key) as product_key,
        batch_id,
        loaded_at

    from source

)

select * from final
