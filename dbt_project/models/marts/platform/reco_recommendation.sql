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
        {{ string_agg_ordered(
            "component.key || ' ' || round(component.value::" ~ sql_type('numeric') ~ ", 3)::" ~ sql_type('text'),
            "', '",
            ["abs(component.value::" ~ sql_type('numeric') ~ ") desc", 'component.key']
        ) }} as score_components,
        {{ first_by(
            'component.key', ["abs(component.value::" ~ sql_type('numeric') ~ ") desc", 'component.key']
        ) }} as top_component

    from items
    {{ json_each_text(
        json_get('items.reasons_json', ['components'], as_json=true), 'component', 'key', 'value'
    ) }}
    where component.value is not null
    group by items.reco_item_id

),

final as (

    select
        -- keys
        items.run_id::{{ type_text() }} as run_id,
        items.customer_code::{{ type_text() }} as customer_code,
        items.rank::integer as rank,
        runs.as_of::date as as_of,

        -- the customer in the run
        items.scenario::{{ type_text() }} as scenario,
        run_customers.grp::{{ type_text() }} as grp,
        run_customers.segment::{{ type_text() }} as segment,

        -- the product
        items.product_key::{{ type_text() }} as product_key,
        products.product_label::{{ type_text() }} as product_label,
        products.family_crm::{{ type_text() }} as family_crm,
        items.score::{{ type_double() }} as score,

        -- why (reasons_json unpacked)
        {{ json_get('items.reasons_json', ['source']) }}::{{ type_text() }} as reason_source,
        {{ json_get('items.reasons_json', ['probability']) }}::{{ type_double() }} as repurchase_probability,
        {{ json_get('items.reasons_json', ['because', 0]) }}::{{ type_text() }} as because_product_key_1,
        because_1.product_label::{{ type_text() }} as because_product_label_1,
        {{ json_get('items.reasons_json', ['because', 1]) }}::{{ type_text() }} as because_product_key_2,
        because_2.product_label::{{ type_text() }} as because_product_label_2,
        components.top_component::{{ type_text() }} as top_component,
        components.score_components::{{ type_text() }} as score_components,
        items.reasons_json::{{ sql_type('jsonb') }} as reasons_json

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
        on {{ json_get('items.reasons_json', ['because', 0]) }} = because_1.product_key
    left join products as because_2
        on {{ json_get('items.reasons_json', ['because', 1]) }} = because_2.product_key
    left join components
        on items.reco_item_id = components.reco_item_id

)

select * from final
