-- Indentation (LT02) is not linted here: sqlfluff re-indents Jinja-generated blocks and array
-- subscripts in ways that read worse than the layout below.
-- noqa: disable=LT02
-- Its grouping-set hash aggregate, top-3 sort and pivot hold every (customer, value) row: at
-- ten million lines they outgrow the project's work_mem and spill to disk.
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=none if on_incremental_path() else true,
        pre_hook=["{% if target.type == 'postgres' %}set work_mem = '1GB'{% endif %}", "{{ delete_customers_to_rebuild('profiles') }}"],
    )
}}

-- depends_on: {{ ref('order_line') }}
-- depends_on: {{ ref('int_product_profile_attributes') }}

{#
    The customer's top 3 wine families, grapes, sugar levels and price bands, each with its
    share of the customer's purchase revenue excl. tax (on or before the as-of date).

    The denominator is all purchase revenue, including lines whose product is unmapped or has
    no value for that attribute, so shares are honest: they add up to at most 1, and to less
    when part of the spending is unknown. Ties: more revenue first, then the value in
    alphabetical order. A customer with no known value for an attribute has nulls there.

    Incremental on reco's checked path (RECO_INCREMENTAL=order_line, macros/incremental_build.sql):
    the rows of the customers with new lines, and of the buyers of a product whose attributes
    changed in this build (int_product_profile_attributes), are deleted (pre-hook) and
    recomputed from all their purchases; nothing else a row is made of can change without a
    full refresh. Rebuilt in full otherwise.
#}
{%- set dimensions = {
    'family': 'family_crm',
    'grape': 'cepage',
    'sugar': 'sucrosite_niveau',
    'budget': 'price_band',
} %}

-- One row per (customer, product): a customer buying the same wine again adds to a row, not
-- a row; the grouping sets below hash far fewer rows than there are lines.
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

revenue_by_value as (

    select
        purchases.customer_code,
        -- the dimension as its number (1 = family ... 4 = budget): small sort and filter keys
        case
            {% for column in dimensions.values() -%}
            when grouping(products.{{ column }}) = 0 then {{ loop.index }}
            {% endfor -%}
        end as dimension_id,
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

-- Narrow rows through the one sort: the customer's purchase revenue (the denominator) is
-- joined on after the pivot, to one row per customer instead of one per value.
ranked as (

    select
        customer_code,
        dimension_id,
        attribute_value,
        revenue_ht,
        row_number() over (
            partition by customer_code {{ collate_c() }}, dimension_id
            order by revenue_ht desc, attribute_value asc
        ) as value_rank

    from revenue_by_value
    where attribute_value is not null

),

top_values as (

    select
        customer_code,
        {%- for name in dimensions %}
        {%- set dimension_id = loop.index %}
        {%- set last_dimension = loop.last %}
        {%- for n in [1, 2, 3] %}
        max(attribute_value) filter (where dimension_id = {{ dimension_id }} and value_rank = {{ n }})
            as top_{{ name }}_{{ n }},
        max(revenue_ht) filter (where dimension_id = {{ dimension_id }} and value_rank = {{ n }})
            as top_{{ name }}_{{ n }}_revenue_ht{{ ',' if not (last_dimension and loop.last) }}
        {%- endfor %}
        {%- endfor %}

    from ranked
    where value_rank <= 3
    group by customer_code

),

final as (

    select
        top_values.customer_code,
        {%- for name in dimensions %}
        {%- set last_dimension = loop.last %}
        {%- for n in [1, 2, 3] %}
        top_values.top_{{ name }}_{{ n }},
        -- rounded: float sums of the same lines in another order can exceed 1 by 1e-16
        round(
            (top_values.top_{{ name }}_{{ n }}_revenue_ht / nullif(rfm.purchase_ht, 0))
            ::{{ sql_type('numeric') }},
            6
        )::{{ sql_type('float') }}
        as top_{{ name }}_{{ n }}_ca_share{{ ',' if not (last_dimension and loop.last) }}
        {%- endfor %}
        {%- endfor %}

    from top_values
    inner join rfm
        on top_values.customer_code = rfm.customer_code

)

select * from final
