{#
    The customer's top 3 wine families, grapes, sugar levels and price bands, each with its
    share of the customer's purchase revenue excl. tax (on or before the as-of date).

    The denominator is all purchase revenue, including lines whose product is unmapped or has
    no value for that attribute, so shares are honest: they add up to at most 1, and to less
    when part of the spending is unknown. Ties: more revenue first, then the value in
    alphabetical order. A customer with no known value for an attribute has nulls there.
#}
{%- set dimensions = {
    'family': 'family_crm',
    'grape': 'cepage',
    'sugar': 'sucrosite_niveau',
    'budget': 'price_band',
} %}

with order_lines as (

    select * from {{ ref('order_line') }}
    where is_purchase and product_key is not null and order_date <= {{ as_of_date() }}

),

-- One row per (customer, product) before the attribute join: a customer buying the same
-- wine again adds a line, not a group; the grouping sets below then hash far fewer rows.
purchases as (

    select
        customer_code,
        product_key,
        sum(amount_ht) as revenue_ht

    from order_lines
    group by customer_code, product_key

),

products as (

    select * from {{ ref('product') }}

),

rfm as (

    select * from {{ ref('int_customer_rfm') }}

),

revenue_by_value as (

    select
        purchases.customer_code,
        case
            {% for name, column in dimensions.items() -%}
            when grouping(products.{{ column }}) = 0 then '{{ name }}'
            {% endfor -%}
        end as dimension,
        coalesce(
            {%- for column in dimensions.values() %}
            products.{{ column }}{{ ',' if not loop.last }}
            {%- endfor %}
        ) as attribute_value,
        sum(purchases.revenue_ht) as revenue_ht

    from purchases
    inner join products
        on purchases.product_key = products.product_key
    group by grouping sets (
        {%- for column in dimensions.values() %}
        (purchases.customer_code, products.{{ column }}){{ ',' if not loop.last }}
        {%- endfor %}
    )

),

ranked as (

    select
        revenue_by_value.*,
        -- rounded: float sums of the same lines in another order can exceed 1 by 1e-16
        round((revenue_by_value.revenue_ht / nullif(rfm.purchase_ht, 0))::numeric, 6)::float
            as ca_share,
        row_number() over (
            partition by
                revenue_by_value.customer_code collate "C",
                revenue_by_value.dimension collate "C"
            order by revenue_by_value.revenue_ht desc, revenue_by_value.attribute_value asc
        ) as value_rank

    from revenue_by_value
    inner join rfm
        on revenue_by_value.customer_code = rfm.customer_code
    where revenue_by_value.attribute_value is not null

),

final as (

    select
        customer_code,
        {%- for name in dimensions %}
        {%- set last_dimension = loop.last %}
        {%- for n in [1, 2, 3] %}
        max(attribute_value) filter (where dimension = '{{ name }}' and value_rank = {{ n }})
            as top_{{ name }}_{{ n }},
        max(ca_share) filter (where dimension = '{{ name }}' and value_rank = {{ n }})
            as top_{{ name }}_{{ n }}_ca_share{{ ',' if not (last_dimension and loop.last) }}
        {%- endfor %}
        {%- endfor %}

    from ranked
    where value_rank <= 3
    group by customer_code

)

select * from final
