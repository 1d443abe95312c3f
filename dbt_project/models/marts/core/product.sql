{{
    config(
        post_hook="{{ spec_index('ix_product_family', ['family_crm']) }}",
    )
}}

{#
    Every product that can be bought: the catalogue, plus every code seen on sales lines up to
    the as-of date that the catalogue lacks (fee and postage codes excepted). Products known
    only from sales take their most frequent label and have no wine attributes.

    Derived when the catalogue does not say (documented in _core__docs.md):
    - unit_price: the catalogue price, else the typical sales price (revenue / units);
    - premium_tier: the catalogue tier, else least(3, floor(4 * percent_rank)) of the price
      within the family (products with no family form one group);
    - price_band: the catalogue band, else the seed price_bands band of the price incl. VAT;
    - is_active: the catalogue flag (missing = active), else sold in the last 365 days;
    - season_tags: the catalogue tags, else "christmas" / "summer" when at least 40 % of the
      revenue falls in November-December / June-August (and at least 5 purchase lines);
    - global_popularity_score: recent distinct buyers / the most any product has (0-1).
#}

with catalogue as (

    select * from {{ ref('int_catalogue_products') }}

),

sales_label_pairs as (

    select * from {{ ref('int_sales_label_pairs') }}

),

sales_stats as (

    select * from {{ ref('int_product_sales_stats') }}

),

price_bands as (

    select * from {{ ref('price_bands') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

---------- products known only from sales

sales_labels_ranked as (

    select
        product_key,
        product_label,
        row_number() over (
            partition by product_key
            order by n_lines desc, product_label asc nulls last
        ) as label_rank

    from sales_label_pairs
    where product_key is not null and not is_non_product_code

),

sales_only_products as (

    select
        sales_labels_ranked.product_key,
        sales_labels_ranked.product_label

    from sales_labels_ranked
    left join catalogue
        on sales_labels_ranked.product_key = catalogue.product_key
    where sales_labels_ranked.label_rank = 1 and catalogue.product_key is null

),

---------- one list

all_products as (

    select
        catalogue.product_key,
        coalesce(catalogue.product_label, sales_labels_ranked.product_label) as product_label,
        catalogue.family_crm,
        catalogue.cepage,
        catalogue.sucrosite_niveau,
        catalogue.price_band,
        catalogue.premium_tier,
        catalogue.unit_price,
        {% for axis in aroma_axes() -%}
            catalogue.aroma_{{ axis }},
        {% endfor -%}
        catalogue.is_active,
        catalogue.season_tags,
        true as has_catalogue

    from catalogue
    left join sales_labels_ranked
        on
            catalogue.product_key = sales_labels_ranked.product_key
            and sales_labels_ranked.label_rank = 1

    union all

    select
        product_key,
        product_label,
        null as family_crm,
        null as cepage,
        null as sucrosite_niveau,
        null as price_band,
        null::integer as premium_tier,
        null::{{ sql_type('numeric') }} as unit_price,
        {% for axis in aroma_axes() -%}
            null::integer as aroma_{{ axis }},
        {% endfor -%}
        null::boolean as is_active,
        null::{{ sql_type('jsonb') }} as season_tags,
        false as has_catalogue

    from sales_only_products

),

priced as (

    select
        all_products.*,
        coalesce(all_products.unit_price, sales_stats.typical_unit_price_ht::{{ sql_type('numeric') }})
            as effective_unit_price,
        coalesce(sales_stats.n_buyers_recent, 0) as n_buyers_recent,
        coalesce(sales_stats.n_purchase_lines, 0) as n_purchase_lines,
        sales_stats.christmas_share,
        sales_stats.summer_share,
        sales_stats.last_order_date

    from all_products
    left join sales_stats
        on all_products.product_key = sales_stats.product_key

),

price_ladder as (

    select
        product_key,
        least(
            3,
            floor(4 * percent_rank() over (
                partition by family_crm
                order by effective_unit_price
            ))
        )::integer as derived_premium_tier

    from priced
    where effective_unit_price is not null

),

final as (

    select
        priced.product_key::{{ type_text() }} as product_key,
        priced.product_label::{{ type_text() }} as product_label,

        ---------- wine attributes
        priced.family_crm::{{ type_text() }} as family_crm,
        priced.cepage::{{ type_text() }} as cepage,
        priced.sucrosite_niveau::{{ type_text() }} as sucrosite_niveau,
        coalesce(priced.price_band, price_bands.price_band)::{{ type_text() }} as price_band,
        coalesce(priced.premium_tier, price_ladder.derived_premium_tier)::integer
            as premium_tier,
        round(priced.effective_unit_price, 4)::{{ sql_type('numeric(18, 4)') }} as unit_price,

        ---------- aroma axes (1-5)
        {% for axis in aroma_axes() -%}
            priced.aroma_{{ axis }}::integer as aroma_{{ axis }},
        {% endfor %}
        ---------- availability and popularity
        coalesce(
            priced.is_active,
            case
                when priced.has_catalogue then true
                else priced.last_order_date > as_of.as_of_date - 365
            end,
            false
        )::boolean as is_active,
        coalesce(
            priced.season_tags::{{ sql_type('json') }},
            {{ json_array_of_texts([
                "case when priced.n_purchase_lines >= 5 and priced.christmas_share >= 0.4 then 'christmas' end",
                "case when priced.n_purchase_lines >= 5 and priced.summer_share >= 0.4 then 'summer' end"
            ]) }}
        )::{{ sql_type('json') }} as season_tags,
        coalesce(
            priced.n_buyers_recent::{{ type_double() }}
            / nullif(max(priced.n_buyers_recent) over (), 0),
            0
        )::{{ type_double() }} as global_popularity_score,
        priced.has_catalogue::boolean as has_catalogue

    from priced
    cross join as_of
    left join price_ladder
        on priced.product_key = price_ladder.product_key
    left join price_bands
        on
            priced.effective_unit_price * (1 + {{ var('vat_rate') }})
            >= price_bands.min_price_ttc
            and priced.effective_unit_price * (1 + {{ var('vat_rate') }})
            < price_bands.max_price_ttc

)

select * from final
