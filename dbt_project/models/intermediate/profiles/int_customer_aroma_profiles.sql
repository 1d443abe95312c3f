-- Indentation (LT02) is not linted here: sqlfluff re-indents Jinja-generated blocks and array
-- subscripts in ways that read worse than the layout below.
-- noqa: disable=LT02
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=none if on_incremental_path() else true,
        pre_hook=["{{ delete_customers_to_rebuild('profiles') }}"],
    )
}}

-- depends_on: {{ ref('order_line') }}
-- depends_on: {{ ref('int_product_profile_attributes') }}
{#
    The customer's aroma profile: on every aroma axis, the mean of the purchased products'
    scores (1-5) weighted by revenue excl. tax, over the purchase lines whose product has aroma
    data (at least one axis scored; an axis left blank on such a product counts as 1, faint). aroma_axe_1 / aroma_axe_2 are the two strongest axes (ties in the order of the
    seed aroma_axes), aroma_score_1 / aroma_score_2 their means.

    aroma_confidence (0-1) = coverage x evidence, where
      coverage = the share of purchase revenue on products with aroma data, and
      evidence = least(1, lines with aroma data / var('aroma_full_evidence_lines'), default 5).
    Customers with no aroma data at all (Online Retail II) have no row here, and confidence 0
    in client_master_profile.

    Incremental on reco's checked path (RECO_INCREMENTAL=order_line, macros/incremental_build.sql):
    the rows of the customers with new lines, and of the buyers of a product whose attributes
    changed in this build (int_product_profile_attributes), are deleted (pre-hook) and
    recomputed from all their purchases; nothing else a row is made of can change without a
    full refresh. Rebuilt in full otherwise.
#}
{%- set axes = aroma_axes() %}

with purchases as (

    select * from {{ ref('int_customer_product_purchases') }}
    {% if is_incremental() -%}
    where customer_code in ({{ customers_to_rebuild('profiles') }})
    {%- endif %}

),

products as (

    select * from {{ ref('product') }}

),

rfm as (

    select * from {{ ref('int_customer_rfm') }}

),

aroma_axes as (

    select * from {{ ref('aroma_axes') }}

),

-- one row per (customer, product): the product's scores are the same on each of its lines,
-- so sum(revenue x score) over these rows is the sum over the lines
aroma_purchases as (

    select
        purchases.customer_code,
        purchases.n_lines,
        purchases.revenue_ht,
        {% for axis in axes -%}
        coalesce(products.aroma_{{ axis }}, 1) as aroma_{{ axis }}{{ ',' if not loop.last }}
        {% endfor %}
    from purchases
    inner join products
        on purchases.product_key = products.product_key
    where
        {% for axis in axes -%}
        products.aroma_{{ axis }} is not null{{ ' or' if not loop.last }}
        {% endfor %}
),

means as (

    select
        customer_code,
        sum(n_lines)::bigint as n_aroma_lines,
        sum(revenue_ht) as aroma_revenue_ht,
        {% for axis in axes -%}
        -- rounded: a float weighted mean of 5s can come out as 5.000000000000001
        round(
            (sum(revenue_ht * aroma_{{ axis }}) / nullif(sum(revenue_ht), 0))::{{ sql_type('numeric') }}, 4
        )::{{ sql_type('float') }}
            as mean_{{ axis }}{{ ',' if not loop.last }}
        {% endfor %}
    from aroma_purchases
    group by customer_code

),

-- The tie-break order of the seed, as one row (axis_order of each axis).
axis_orders as (

    select
        {% for axis in axes -%}
        max(axis_order) filter (where axis = '{{ axis }}') as order_{{ axis }}{{ ',' if not loop.last }}
        {% endfor %}
    from aroma_axes

),

-- Each axis's place among the customer's seven means, worked out on the row itself (no sort
-- of seven million (customer, axis) rows): the number of axes ahead of it, i.e. with a higher
-- mean, or the same mean and an earlier place in the seed. Axes with no mean (or absent from
-- the seed) take no place. One pass over the means, joined to the customer's revenue.
axis_places as (

    select
        means.customer_code,
        means.n_aroma_lines,
        means.aroma_revenue_ht,
        rfm.purchase_ht,
        {% for axis in axes -%}
        means.mean_{{ axis }},
        case when means.mean_{{ axis }} is not null and axis_orders.order_{{ axis }} is not null then
            {% for other in axes if other != axis -%}
            (case
                when means.mean_{{ other }} > means.mean_{{ axis }}
                    or (means.mean_{{ other }} = means.mean_{{ axis }}
                        and axis_orders.order_{{ other }} < axis_orders.order_{{ axis }})
                    then 1
                else 0
            end){{ ' +' if not loop.last }}
            {% endfor -%}
        end as place_{{ axis }}{{ ',' if not loop.last }}
        {% endfor %}
    from means
    inner join rfm
        on means.customer_code = rfm.customer_code
    cross join axis_orders

),

final as (

    select
        customer_code,
        n_aroma_lines,
        {% for n in [1, 2] -%}
        case
            {% for axis in axes -%}
            when place_{{ axis }} = {{ n - 1 }} then '{{ axis }}'
            {% endfor -%}
        end as aroma_axe_{{ n }},
        case
            {% for axis in axes -%}
            when place_{{ axis }} = {{ n - 1 }} then mean_{{ axis }}
            {% endfor -%}
        end as aroma_score_{{ n }},
        {% endfor -%}
        round(least(1.0, greatest(0.0,
            (aroma_revenue_ht / nullif(purchase_ht, 0))::{{ sql_type('numeric') }}
            * least(1.0, n_aroma_lines::{{ sql_type('numeric') }} / {{ var('aroma_full_evidence_lines') }})
        )), 4)::{{ type_double() }} as aroma_confidence

    from axis_places

)

select * from final
