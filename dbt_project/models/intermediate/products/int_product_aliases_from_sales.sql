-- Aliases learnt from the sales lines themselves: a normalised label carried by lines that
-- do have a product code maps to that code (the code seen on most lines, then the smallest).
-- Lines with a label and no code are then mapped through these (resolution sales_exact).
with keyed_pairs as (

    select * from {{ ref('int_sales_label_pairs_keyed') }}

),

candidates as (

    select
        product_label_normalized as alias_label,
        first_pass_product_key as product_key,
        sum(n_lines) as n_lines

    from keyed_pairs
    where
        product_key is not null
        and first_pass_product_key is not null
        and product_label_normalized is not null
    group by product_label_normalized, first_pass_product_key

),

ranked as (

    select
        *,
        row_number() over (
            partition by alias_label
            order by n_lines desc, product_key asc
        ) as label_rank

    from candidates

),

final as (

    select
        alias_label,
        product_key,
        n_lines

    from ranked
    where label_rank = 1

)

select * from final
