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
    Frequency and money per master customer, and the dates of the first and last purchase,
    from the order lines on or before the as-of date (the filter is repeated here so that no
    later line can leak in):

    - nb_commandes: distinct orders (doc_ref) with at least one purchase line;
    - ca_ht: net revenue excl. tax: purchases, less returns and cancellations (adjustments,
      fees and postage left out);
    - purchase_ht: gross purchase revenue (the denominator of every share).

    Only customers with at least one purchase get a row. Nothing here depends on the as-of
    date itself, which moves every night: recency (recence_jours) is worked out from
    last_order_date in int_customer_rfm_scored, which reads these rows, not the lines.

    Incremental on reco's checked path (RECO_INCREMENTAL=order_line, macros/incremental_build.sql):
    the rows of the customers with new lines are deleted (pre-hook) and recomputed from all
    their lines (an order can span days: its doc_ref counts once); every other customer's lines
    are unchanged. Rebuilt in full otherwise.
#}

with order_lines as (

    select * from {{ ref('order_line') }}
    where order_date <= {{ as_of_date() }}
    {% if is_incremental() %}
        and customer_code in ({{ customers_to_rebuild('lines') }})
    {% endif %}

),

orders as (

    select
        customer_code,
        doc_ref,
        bool_or(is_purchase) as has_purchase,
        min(order_date) filter (where is_purchase) as first_purchase_date,
        max(order_date) filter (where is_purchase) as last_purchase_date,
        coalesce(
            sum(amount_ht) filter (where line_type in ('sale', 'return', 'cancellation')),
            0
        ) as net_ht,
        coalesce(sum(amount_ht) filter (where is_purchase), 0) as purchase_ht,
        count(*) filter (where is_purchase) as n_purchase_lines,
        count(*) filter (where is_purchase and product_key is null) as n_unmapped_lines

    from order_lines
    group by customer_code, doc_ref

),

customers as (

    select
        customer_code,
        min(first_purchase_date) as first_order_date,
        max(last_purchase_date) as last_order_date,
        count(*) filter (where has_purchase) as nb_commandes,
        sum(net_ht) as ca_ht,
        sum(purchase_ht) as purchase_ht,
        sum(n_purchase_lines) as n_purchase_lines,
        sum(n_unmapped_lines) as n_unmapped_lines

    from orders
    group by customer_code
    having bool_or(has_purchase)

),

final as (

    select
        customers.customer_code,
        customers.first_order_date,
        customers.last_order_date,
        customers.nb_commandes,
        customers.ca_ht,
        customers.purchase_ht,
        customers.n_purchase_lines,
        customers.n_unmapped_lines,
        customers.purchase_ht / nullif(customers.n_purchase_lines, 0) as avg_line_price_ht

    from customers

)

select * from final
