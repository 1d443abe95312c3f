with source as (

    select * from {{ source('raw', 'product') }}

),

final as (

    select
        ---------- ids
        id as product_record_id,
        btrim(product_key) as product_key,
        nullif(btrim(product_label), '') as product_label,
        {{ normalize_label('product_label') }} as product_label_normalized,

        ---------- wine attributes
        nullif(btrim(family_crm), '') as family_crm,
        nullif(btrim(cepage), '') as cepage,
        nullif({{ regexp_replace_all('lower(btrim(sucrosite_niveau))', '[\\s-]+', '_') }}, '')
            as sucrosite_niveau,
        nullif(lower(btrim(price_band)), '') as price_band,
        premium_tier,
        unit_price,

        ---------- aroma axes (1-5)
        aroma_fruity,
        aroma_floral,
        aroma_spicy,
        aroma_herbal,
        aroma_mineral,
        aroma_woody,
        aroma_toasty,

        ---------- availability
        is_active,
        season_tags,

        ---------- lineage
        batch_id,
        loaded_at

    from source

)

select * from final
