{{ config(materialized='table') }}

{#
    The product each (code, label) pair of the sales lines points at, tried in this order:

      1. catalogue_key: the line's own product code is in the catalogue;
      2. the normalised label has a curated alias (override_loaded, override_seed, catalogue);
      3. sales_key: the line's own product code, a product known only from sales;
      4. sales_exact: the normalised label is carried elsewhere by lines that do have a code;
      5. otherwise unmapped (product_key null; see the mart unmapped_sales_labels).

    Fee and postage codes (seed non_product_codes) map to no product: resolution non_product.
#}

with keyed_pairs as (

    select * from {{ ref('int_sales_label_pairs_keyed') }}

),

sales_aliases as (

    select * from {{ ref('int_product_aliases_from_sales') }}

),

final as (

    select
        keyed_pairs.product_key as source_product_key,
        keyed_pairs.product_label as source_product_label,
        keyed_pairs.product_label_normalized,
        keyed_pairs.n_lines,
        keyed_pairs.n_sale_lines,
        keyed_pairs.sale_revenue_ht,
        keyed_pairs.first_order_date,
        keyed_pairs.last_order_date,
        coalesce(keyed_pairs.first_pass_product_key, sales_aliases.product_key) as product_key,
        case
            when keyed_pairs.first_pass_resolution is not null
                then keyed_pairs.first_pass_resolution
            when sales_aliases.product_key is not null then 'sales_exact'
            else 'unmapped'
        end as resolution

    from keyed_pairs
    left join sales_aliases
        on
            keyed_pairs.product_label_normalized = sales_aliases.alias_label
            and keyed_pairs.first_pass_resolution is null

)

select * from final
