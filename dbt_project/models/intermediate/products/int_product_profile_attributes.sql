-- Indentation (LT02) is not linted here: sqlfluff re-indents Jinja-generated blocks in ways
-- that read worse than the layout below.
-- noqa: disable=LT02
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=none if on_incremental_path() else true,
        post_hook=[
            "{% if is_incremental() and target.type == 'postgres' %}delete from {{ this }} where build_id <> '{{ invocation_id }}' and product_key in (select product_key from {{ this }} where build_id = '{{ invocation_id }}'){% endif %}",
        ],
    )
}}

{#
    The product attributes the customer profiles are made of (int_customer_attribute_shares:
    family, grape, sugar level, price band; int_customer_aroma_profiles: the aroma axes), one
    row per product, with the dbt invocation (build_id) that last saw them change.

    A cold build writes every product with its build's id. The incremental path (reco dbt
    build, RECO_INCREMENTAL=order_line) appends only the products whose attributes differ from
    the ones stored (a new catalogue export, a sales-only product whose typical price moved to
    another band, a product new or gone: is_present false), then deletes their older rows; the
    profile models then recompute the buyers of the products changed in this build
    (macro customers_to_rebuild('profiles')) besides the customers with new lines.
#}
{%- set columns = ['family_crm', 'cepage', 'sucrosite_niveau', 'price_band'] %}
{%- for axis in aroma_axes() %}{% do columns.append('aroma_' ~ axis) %}{% endfor %}

with products as (

    select
        product_key,
        {% for column in columns -%}
        {{ column }},
        {% endfor -%}
        true as is_present

    from {{ ref('product') }}

),

{% if is_incremental() %}

stored as (

    select * from {{ this }}

),

changed as (

    select
        coalesce(products.product_key, stored.product_key) as product_key,
        {% for column in columns -%}
        products.{{ column }},
        {% endfor -%}
        coalesce(products.is_present, false) as is_present

    from products
    full outer join stored
        on products.product_key = stored.product_key
    where
        stored.product_key is null
        or coalesce(products.is_present, false) <> stored.is_present
        {% for column in columns -%}
        or products.{{ column }} is distinct from stored.{{ column }}
        {% endfor %}
),

{% else %}

changed as (

    select * from products

),

{% endif %}

final as (

    select
        product_key::{{ type_text() }} as product_key,
        {% for column in columns -%}
        {{ column }},
        {% endfor -%}
        is_present::boolean as is_present,
        '{{ invocation_id }}'::{{ type_text() }} as build_id

    from changed

)

select * from final
