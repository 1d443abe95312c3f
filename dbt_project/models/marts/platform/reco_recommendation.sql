-- Every recommendation of every run, readable without reco's tables: the product's name, the
-- customer's group and segment at scoring time, and the reasons_json unpacked into columns (the
-- json itself is kept). The reasons' sentence as the campaign file words it is `reco export`'s
-- (reco/campaign/export.py); here are its parts.
with items as (

    select * from {{ ref('stg_reco__items') }}

),

runs as (

    select * from {{ ref('stg_reco__runs') }}

),

run_customers as (

    select * from {{ ref('stg_reco__run_customers') }}

),

products as (

    select * from {{ ref('product') }}

),

-- The score's components (name: contribution), largest contribution first.
components as (

    select
        items.reco_item_id,
        string_agg(
            component.key || ' ' || round(component.value::numeric, 3)::text,
            ', '
            order by abs(component.value::numeric) desc, component.key
        ) as score_components,
        (
            array_agg(component.key order by abs(component.value::numeric) desc, component.key)
        )[1] as top_component

    from items
    cross join lateral jsonb_each_text(items.reasons_json -> 'components') as component (key, value)
    where component.value is not null
    group by items.reco_item_id

),

final as (

    select
        -- keys
        items.run_id::text as run_id,
        items.customer_code::text as customer_code,
        items.rank::integer as rank,
        runs.as_of::date as as_of,

        -- the customer in the run
        items.scenario::text as scenario,
        run_customers.grp::text as grp,
        run_customers.segment::text as segment,

        -- the product
        items.product_key::text as product_key,
        products.product_label::text as product_label,
        products.family_crm::text as family_crm,
        items.score::double precision as score,

        -- why (reasons_json unpacked)
        (items.reasons_json ->> 'source')::text as reason_source,
        (items.reasons_json ->> 'probability')::double precision as repurchase_probability,
        (items.reasons_json -> 'because' ->> 0)::text as because_product_key_1,
        because_1.product_label::text as because_product_label_1,
        (items.reasons_json -> 'because' ->> 1)::text as because_product_key_2,
        because_2.product_label::text as because_product_label_2,
        components.top_component::text as top_component,
        components.score_components::text as score_components,
        items.reasons_json::jsonb as reasons_json

    -- a left join: an item whose run is missing stays, and fails the mart's relationships test
    from items
    left join runs
        on items.run_id = runs.run_id
    left join run_customers
        on
            items.run_id = run_customers.run_id
            and items.customer_code = run_customers.customer_code
    left join products
        on items.product_key = products.product_key
    left join products as because_1
        on (items.reasons_json -> 'because' ->> 0) = because_1.product_key
    left join products as because_2
        on (items.reasons_json -> 'because' ->> 1) = because_2.product_key
    left join components
        on items.reco_item_id = components.reco_item_id

)

select * from final
