-- Labels are normalised in int_sales_label_keys_resolved, once per distinct label rather than
-- once per line: the regular expressions are the costly part of a 10 M-line build.
-- raw.sales_line keeps its rows narrow: the load time is recorded once per batch, and the
-- view raw.sales_line_lineage adds it (a left join on load_batch's key; its join to load_file
-- is skipped by PostgreSQL, since no column of it is read here).
with source as (

    select * from {{ source('raw', 'sales_line_lineage') }}

),

final as (

    select
        ---------- ids
        id as sales_line_id,
        line_key,
        btrim(doc_ref) as doc_ref,
        btrim(customer_code) as customer_code,
        nullif(btrim(product_key), '') as product_key,
        nullif(btrim(product_label), '') as product_label,

        ---------- dates
        order_date,
        order_ts,

        ---------- amounts
        quantity,
        unit_price,
        amount_ht,
        amount_ttc,

        ---------- attributes
        nullif(btrim(country), '') as country,
        lower(btrim(line_type)) as line_type,

        ---------- lineage
        batch_id,
        loaded_at

    from source

)

select * from final
