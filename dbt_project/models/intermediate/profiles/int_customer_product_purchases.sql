{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=none if on_incremental_path() else true,
        pre_hook="{{ delete_customers_to_rebuild('lines') }}",
    )
}}

{#
    What each master customer bought of each product: the purchase lines (is_purchase, product
    mapped) on or before the as-of date, summed per (customer, product). The one pass over
    order_line that the attribute shares, the aroma profile and the product sales statistics
    share: they read these rows (a customer buying the same wine again adds to a row, not a
    row) instead of scanning the ten million lines each.

    - n_lines, units, revenue_ht: purchase lines, quantity and revenue excl. tax;
    - christmas_revenue_ht / summer_revenue_ht: the part of the revenue made in
      November-December / June-August (0 when none);
    - last_order_date: the latest purchase of that product by that customer.

    Incremental on reco's checked path (RECO_INCREMENTAL=order_line, macros/incremental_build.sql):
    the rows of the customers with new lines are deleted (pre-hook) and recomputed from all
    their lines (read through order_line's index on (customer_code, order_date)); every other
    customer's rows are unchanged, since none of their lines changed. Rebuilt in full otherwise.
#}

with order_lines as (

    select * from {{ ref('order_line') }}
    where is_purchase and product_key is not null and order_date <= {{ as_of_date() }}
    {% if is_incremental() %}
        and customer_code in ({{ customers_to_rebuild('lines') }})
    {% endif %}

),

final as (

    select
        customer_code,
        product_key,
        count(*) as n_lines,
        sum(quantity) as units,
        sum(amount_ht) as revenue_ht,
        coalesce(sum(amount_ht) filter (where extract(month from order_date) in (11, 12)), 0)
            as christmas_revenue_ht,
        coalesce(sum(amount_ht) filter (where extract(month from order_date) in (6, 7, 8)), 0)
            as summer_revenue_ht,
        max(order_date) as last_order_date

    from order_lines
    group by customer_code, product_key

)

select * from final
