{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=none if on_incremental_path() else true,
        pre_hook="{{ postgres_only('set enable_mergejoin = off') }}",
        post_hook=[
            "{{ postgres_only('reset enable_mergejoin') }}",
            "{{ spec_index('ix_orderline_customer_date', ['customer_code', 'order_date']) }}",
        ],
    )
}}

-- The lines join the few thousand resolved (code, label) pairs by hash: a sort-merge join
-- would sort ten million labels first (hence enable_mergejoin off for this model only).

-- Incremental only when `reco dbt build` says so (RECO_INCREMENTAL=order_line, set by
-- reco/dbt/incremental.py after checking the inputs; docs/warehouse.md "Incremental builds"):
-- it then appends the lines loaded since the last build, those with a larger id than any line
-- already here. Any other build (plain dbt, a backtest, a build reco found retroactive: a line
-- deleted or landed below the watermark, an old code or label mapped elsewhere, an as-of date
-- that takes in older lines, a changed model, seed or variable) rebuilds the table in full.

{#
    line_type comes from the load (sale, return, cancellation, adjustment), except that lines
    on a fee or postage code (seed non_product_codes) are adjustments whatever they say.
    is_purchase: a sale line with a positive quantity and a positive amount; only those count
    as purchases (orders, recency, shares, aroma). Returns and cancellations stay, negative,
    and reduce the customer's net revenue (ca_ht); adjustments count for nothing.
#}

with sales_lines as (

    select * from {{ ref('stg_raw__sales_lines') }}
    where order_date <= {{ as_of_date() }}
    {% if is_incremental() %}
        and sales_line_id > (select coalesce(max(this.id), 0) from {{ this }} as this)
    {% endif %}

),

code_map as (

    select * from {{ ref('int_customer_codes_clustered') }}

),

resolved_keys as (

    select * from {{ ref('int_sales_label_keys_resolved') }}

),

joined as (

    select
        sales_lines.*,
        code_map.customer_code as master_customer_code,
        resolved_keys.product_key as resolved_product_key,
        resolved_keys.resolution = 'non_product' as is_non_product

    from sales_lines
    inner join code_map
        on sales_lines.customer_code = code_map.source_customer_code
    inner join resolved_keys
        on
            coalesce(sales_lines.product_key, '') = coalesce(resolved_keys.source_product_key, '')
            and coalesce(sales_lines.product_label, '') = coalesce(resolved_keys.source_product_label, '')

),

typed as (

    select
        ---------- ids
        sales_line_id as id,
        master_customer_code as customer_code,
        resolved_product_key as product_key,
        product_label,
        order_date,
        doc_ref,

        ---------- amounts
        quantity::{{ type_double() }} as quantity,
        unit_price::{{ type_double() }} as unit_price,
        amount_ht::{{ type_double() }} as amount_ht,
        coalesce(
            amount_ttc,
            amount_ht * (1 + {{ var('vat_rate') }})
        )::{{ type_double() }} as amount_ttc,

        ---------- kind of line
        case when is_non_product then 'adjustment' else line_type end as line_type

    from joined

),

final as (

    select
        id::bigint as id,
        -- byte-wise collation (PostgreSQL): the spec index (customer_code, order_date) then sorts
        -- the codes with memcmp, not strcoll; UTF-8 bytes sort in code-point order, as C.UTF-8 does
        customer_code::{{ type_text() }} {{ collate_c() }} as customer_code,
        product_key::{{ type_text() }} as product_key,
        product_label::{{ type_text() }} as product_label,
        order_date::date as order_date,
        doc_ref::{{ type_text() }} as doc_ref,
        quantity,
        unit_price,
        amount_ht,
        amount_ttc,
        line_type::{{ type_text() }} as line_type,
        (line_type = 'sale' and quantity > 0 and amount_ht > 0)::boolean as is_purchase

    from typed

)

select * from final
