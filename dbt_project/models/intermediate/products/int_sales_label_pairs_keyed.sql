-- First pass of the product resolution of each sales (code, label) pair: the catalogue code,
-- then a curated alias, then the line's own code (see int_sales_label_keys_resolved).
with pairs as (

    select * from {{ ref('int_sales_label_pairs') }}

),

catalogue as (

    select * from {{ ref('int_catalogue_products') }}

),

curated_aliases as (

    select * from {{ ref('int_product_aliases_curated') }}

),

final as (

    select
        pairs.*,
        case
            when pairs.is_non_product_code then null
            when catalogue.product_key is not null then catalogue.product_key
            when curated_aliases.product_key is not null then curated_aliases.product_key
            else pairs.product_key
        end as first_pass_product_key,
        case
            when pairs.is_non_product_code then 'non_product'
            when catalogue.product_key is not null then 'catalogue_key'
            when curated_aliases.product_key is not null then curated_aliases.alias_source
            when pairs.product_key is not null then 'sales_key'
        end as first_pass_resolution

    from pairs
    left join catalogue
        on pairs.product_key = catalogue.product_key
    left join curated_aliases
        on pairs.product_label_normalized = curated_aliases.alias_label

)

select * from final
