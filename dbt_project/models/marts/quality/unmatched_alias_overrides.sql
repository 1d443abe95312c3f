-- Curated overrides (seed or loaded) pointing at a product_key that exists nowhere: they are
-- not applied. A warning test on this model tells the analyst at every build.
with seed_overrides as (

    select * from {{ ref('product_alias_overrides') }}

),

loaded_overrides as (

    select * from {{ ref('stg_raw__product_aliases') }}

),

products as (

    select * from {{ ref('product') }}

),

overrides as (

    select
        'override_seed:' || row_number() over (order by alias_label, product_key) as override_id,
        alias_label::{{ type_text() }} as alias_label,
        btrim(product_key)::{{ type_text() }} as product_key,
        'override_seed' as alias_source,
        null::{{ type_text() }} as batch_id

    from seed_overrides

    union all

    select
        'override_loaded:' || alias_record_id as override_id,
        alias_label,
        product_key,
        'override_loaded' as alias_source,
        batch_id

    from loaded_overrides

),

final as (

    select overrides.*
    from overrides
    left join products
        on overrides.product_key = products.product_key
    where products.product_key is null

)

select * from final
