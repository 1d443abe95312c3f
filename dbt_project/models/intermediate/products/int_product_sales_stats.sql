{{ config(materialized='table') }}

{#
    What the sales say about each product, as of the as-of date (purchase lines only, read
    from the per-(customer, product) sums of int_customer_product_purchases):

    - typical_unit_price_ht: revenue excl. tax / units sold;
    - n_buyers_recent: distinct customers who bought it in the var('popularity_window_days')
      days up to and including the as-of date (default 90, the window of the POP baseline);
    - christmas_share / summer_share: share of its revenue made in November-December and in
      June-August.
#}

with purchases as (

    select * from {{ ref('int_customer_product_purchases') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

totals as (

    select
        purchases.product_key,
        sum(purchases.n_lines)::bigint as n_purchase_lines,
        sum(purchases.units) as units,
        sum(purchases.revenue_ht) as revenue_ht,
        sum(purchases.christmas_revenue_ht) as christmas_revenue_ht,
        sum(purchases.summer_revenue_ht) as summer_revenue_ht,
        max(purchases.last_order_date) as last_order_date,
        -- a customer bought it in the window when their last purchase of it falls there
        count(*) filter (
            where purchases.last_order_date
            > as_of.as_of_date - {{ var('popularity_window_days') }}
        ) as n_buyers_recent

    from purchases
    cross join as_of
    group by purchases.product_key

),

final as (

    select
        totals.product_key,
        totals.n_purchase_lines,
        totals.revenue_ht / nullif(totals.units, 0) as typical_unit_price_ht,
        totals.n_buyers_recent,
        coalesce(totals.christmas_revenue_ht, 0) / nullif(totals.revenue_ht, 0)
            as christmas_share,
        coalesce(totals.summer_revenue_ht, 0) / nullif(totals.revenue_ht, 0) as summer_share,
        totals.last_order_date

    from totals

)

select * from final
