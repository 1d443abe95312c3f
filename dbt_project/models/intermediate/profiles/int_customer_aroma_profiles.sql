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
#}
{%- set axes = aroma_axes() %}

with order_lines as (

    select * from {{ ref('order_line') }}
    where is_purchase and product_key is not null and order_date <= {{ as_of_date() }}

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

aroma_lines as (

    select
        order_lines.customer_code,
        order_lines.amount_ht,
        {% for axis in axes -%}
        coalesce(products.aroma_{{ axis }}, 1) as aroma_{{ axis }}{{ ',' if not loop.last }}
        {% endfor %}
    from order_lines
    inner join products
        on order_lines.product_key = products.product_key
    where
        {% for axis in axes -%}
        products.aroma_{{ axis }} is not null{{ ' or' if not loop.last }}
        {% endfor %}
),

means as (

    select
        customer_code,
        count(*) as n_aroma_lines,
        sum(amount_ht) as aroma_revenue_ht,
        {% for axis in axes -%}
        -- rounded: a float weighted mean of 5s can come out as 5.000000000000001
        round((sum(amount_ht * aroma_{{ axis }}) / nullif(sum(amount_ht), 0))::numeric, 4)::float
            as mean_{{ axis }}{{ ',' if not loop.last }}
        {% endfor %}
    from aroma_lines
    group by customer_code

),

axis_scores as (

    select
        means.customer_code,
        scores.axis,
        scores.score,
        row_number() over (
            partition by means.customer_code collate "C"
            order by scores.score desc, aroma_axes.axis_order asc
        ) as axis_rank

    from means
    cross join lateral (
        values
            {% for axis in axes -%}
            ('{{ axis }}', means.mean_{{ axis }}){{ ',' if not loop.last }}
            {% endfor %}
    ) as scores (axis, score)
    inner join aroma_axes
        on scores.axis = aroma_axes.axis
    where scores.score is not null

),

top_axes as (

    select
        customer_code,
        max(axis) filter (where axis_rank = 1) as aroma_axe_1,
        max(score) filter (where axis_rank = 1) as aroma_score_1,
        max(axis) filter (where axis_rank = 2) as aroma_axe_2,
        max(score) filter (where axis_rank = 2) as aroma_score_2

    from axis_scores
    where axis_rank <= 2
    group by customer_code

),

final as (

    select
        means.customer_code,
        means.n_aroma_lines,
        top_axes.aroma_axe_1,
        top_axes.aroma_score_1,
        top_axes.aroma_axe_2,
        top_axes.aroma_score_2,
        round(least(1.0, greatest(0.0,
            (means.aroma_revenue_ht / nullif(rfm.purchase_ht, 0))::numeric
            * least(1.0, means.n_aroma_lines::numeric / {{ var('aroma_full_evidence_lines') }})
        )), 4)::double precision as aroma_confidence

    from means
    inner join rfm
        on means.customer_code = rfm.customer_code
    left join top_axes
        on means.customer_code = top_axes.customer_code

)

select * from final
