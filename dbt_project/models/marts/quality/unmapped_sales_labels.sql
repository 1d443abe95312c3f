-- Sales labels that map to no product, biggest revenue first: the analysts' curation queue.
-- Add the label to the seed product_alias_overrides or load it with `reco load aliases`.
with resolved_keys as (

    select * from {{ ref('int_sales_label_keys_resolved') }}
    where resolution = 'unmapped'

),

per_label as (

    select
        coalesce(product_label_normalized, '(no label)') as alias_label,
        {{ first_by('source_product_label', ['n_lines desc', 'source_product_label asc']) }}
            as example_label,
        count(*) as n_label_variants,
        sum(n_lines) as n_lines,
        sum(n_sale_lines) as n_sale_lines,
        sum(sale_revenue_ht) as revenue_ht_at_stake,
        min(first_order_date) as first_order_date,
        max(last_order_date) as last_order_date

    from resolved_keys
    group by coalesce(product_label_normalized, '(no label)')

),

final as (

    select
        alias_label::{{ type_text() }} as alias_label,
        example_label::{{ type_text() }} as example_label,
        n_label_variants::integer as n_label_variants,
        n_lines::bigint as n_lines,
        n_sale_lines::bigint as n_sale_lines,
        revenue_ht_at_stake::{{ type_double() }} as revenue_ht_at_stake,
        row_number() over (
            order by revenue_ht_at_stake desc, n_lines desc, alias_label asc
        )::integer as curation_rank,
        first_order_date,
        last_order_date

    from per_label

)

select * from final
