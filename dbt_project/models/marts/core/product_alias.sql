-- Curated aliases (override_loaded > override_seed > catalogue, see int_product_aliases_curated)
-- first; labels learnt from the sales lines (sales_exact) fill in the labels they leave.
with curated_aliases as (

    select * from {{ ref('int_product_aliases_curated') }}

),

sales_aliases as (

    select * from {{ ref('int_product_aliases_from_sales') }}

),

unioned as (

    select
        alias_label,
        product_key,
        alias_source

    from curated_aliases

    union all

    select
        sales_aliases.alias_label,
        sales_aliases.product_key,
        'sales_exact' as alias_source

    from sales_aliases
    left join curated_aliases
        on sales_aliases.alias_label = curated_aliases.alias_label
    where curated_aliases.alias_label is null

),

final as (

    select
        alias_label::{{ type_text() }} as alias_label,
        product_key::{{ type_text() }} as product_key,
        alias_source::{{ type_text() }} as alias_source

    from unioned

)

select * from final
