{{ config(materialized='table') }}

{#
    What the sales say about each product, as of the as-of date (purchase lines only):

    - typical_unit_price_ht: revenue excl. tax / units sold;
    - n_buyers_recent: distinct customers who bought it in the var('popularity_window_days')
      days up to and including the as-of date (default 90, the window of the POP baseline);
    - christmas_share / summer_share: share of its revenue made in November-December and in
      June-August.
#}

with order_lines as (

    select * from {{ ref('order_line') }}
    where is_purchase and product_key is not null and order_date <= {{ as_of_date() }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

totals as (

    select
        product_key,
        count(*) as n_purchase_lines,
        sum(quantity) as units,
        sum(amount_ht) as revenue_ht,
        sum(amount_ht) filter (where extract(month from order_date) in (11, 12))
            as christmas_revenue_ht,
        sum(amount_ht) filter (where extract(month from order_date) in (6, 7, 8))
            as summer_revenue_ht,
        max(order_date) as last_order_date

    from order_lines
    group by product_key

),

recent_buyers as (

    select
        product_key,
        count(*) as n_buyers_recent

    from (
        select distinct
            order_lines.product_key,
            order_lines.customer_code

        from order_lines
        cross join as_of
        where order_lines.order_date > as_of.as_of_date - {{ var('popularity_window_days') }}
    ) as recent_pairs
    group by product_key

),

final as (

    select
        totals.product_key,
        totals.n_purchase_lines,
        totals.revenue_ht / nullif(totals.units, 0) as typical_unit_price_ht,
        coalesce(recent_buyers.n_buyers_recent, 0) as n_buyers_recent,
        coalesce(totals.christmas_revenue_ht, 0) / nullif(totals.revenue_ht, 0)
            as christmas_share,
        coalesce(totals.summer_revenue_ht, 0) / nullif(totals.revenue_ht, 0) as summer_share,
        totals.last_order_date

    from totals
    left join recent_buyers
        on totals.product_key = recent_buyers.product_key

)

select * from final
