{#
    The label -> product mappings that do not come from the sales lines themselves, one row
    per normalised label, the strongest source winning:

      1. override_loaded: rows loaded with `reco load aliases` (raw.product_alias). The CRM
         team curates these without touching git, so they win; within them the latest load
         wins.
      2. override_seed: the seed product_alias_overrides, kept in git and reviewed; the
         project-wide default that a loaded override can correct.
      3. catalogue: the catalogue's own labels. When several products share a normalised
         label (vintages of one wine collapse, since years are removed), the active one wins,
         then the latest loaded, then the smallest product_key.

    Overrides whose product_key is neither in the catalogue nor on any sales line are left
    out here and listed in the mart unmatched_alias_overrides.
#}

with seed_overrides as (

    select * from {{ ref('product_alias_overrides') }}

),

loaded_overrides as (

    select * from {{ ref('stg_raw__product_aliases') }}

),

catalogue as (

    select * from {{ ref('int_catalogue_products') }}

),

sales_label_pairs as (

    select * from {{ ref('int_sales_label_pairs') }}

),

known_product_keys as (

    select product_key from catalogue

    union

    select product_key from sales_label_pairs
    where product_key is not null and not is_non_product_code

),

candidates as (

    select
        alias_label_normalized as alias_label,
        product_key,
        'override_loaded' as alias_source,
        1 as source_priority,
        row_number() over (
            partition by alias_label_normalized
            order by loaded_at desc, alias_record_id desc
        ) as rank_in_source

    from loaded_overrides
    where alias_label_normalized is not null

    union all

    select
        {{ normalize_label('alias_label') }} as alias_label,
        btrim(product_key) as product_key,
        'override_seed' as alias_source,
        2 as source_priority,
        row_number() over (
            partition by {{ normalize_label('alias_label') }}
            order by btrim(product_key)
        ) as rank_in_source

    from seed_overrides
    where {{ normalize_label('alias_label') }} is not null

    union all

    select
        product_label_normalized as alias_label,
        product_key,
        'catalogue' as alias_source,
        3 as source_priority,
        row_number() over (
            partition by product_label_normalized
            order by coalesce(is_active, true) desc, loaded_at desc, product_key asc
        ) as rank_in_source

    from catalogue
    where product_label_normalized is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by alias_label
            order by source_priority, rank_in_source
        ) as alias_rank

    from candidates
    where
        rank_in_source = 1
        and product_key in (select product_key from known_product_keys)  -- noqa: RF02

),

final as (

    select
        alias_label,
        product_key,
        alias_source,
        source_priority

    from ranked
    where alias_rank = 1

)

select * from final
