{{ config(materialized='table') }}

-- The distinct (product code, label) pairs found on sales lines up to the as-of date, with the
-- lines and revenue behind each. Everything about labels is worked out on these few thousand
-- pairs, then joined back to the lines, instead of normalising ten million labels.
with sales_lines as (

    select * from {{ ref('stg_raw__sales_lines') }}
    where order_date <= {{ as_of_date() }}

),

non_product_codes as (

    select * from {{ ref('non_product_codes') }}

),

pairs as (

    select
        product_key,
        product_label,
        count(*) as n_lines,
        count(*) filter (where line_type = 'sale') as n_sale_lines,
        coalesce(sum(amount_ht) filter (where line_type = 'sale'), 0) as sale_revenue_ht,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date

    from sales_lines
    group by product_key, product_label

),

final as (

    select
        pairs.*,
        {{ normalize_label('pairs.product_label') }} as product_label_normalized,
        non_product_codes.product_key is not null as is_non_product_code

    from pairs
    left join non_product_codes
        on pairs.product_key = non_product_codes.product_key

)

select * from final
