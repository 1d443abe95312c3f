-- What each run (and each export of it) flagged, counted by kind, reason and severity: how many
-- customers a consent rule suppressed, how many lists were filled from the popular products, which
-- data-quality warnings the run raised. The flags themselves are in reco.audit_item.
with audit_items as (

    select * from {{ ref('stg_reco__audit_items') }}

),

runs as (

    select * from {{ ref('stg_reco__runs') }}

),

aggregated as (

    select
        run_id,
        kind,
        reason_code,
        severity,
        count(*) as audit_items,
        count(distinct customer_code) as customers,
        count(distinct product_key) as products,
        count(*) filter (where customer_code is null) as run_level_items

    from audit_items
    group by run_id, kind, reason_code, severity

),

final as (

    select
        -- keys
        aggregated.run_id::{{ type_text() }} as run_id,
        aggregated.kind::{{ type_text() }} as kind,
        aggregated.reason_code::{{ type_text() }} as reason_code,
        aggregated.severity::{{ type_text() }} as severity,
        runs.as_of::date as as_of,

        -- counts
        aggregated.audit_items::integer as audit_items,
        aggregated.customers::integer as customers,
        aggregated.products::integer as products,
        aggregated.run_level_items::integer as run_level_items,
        (aggregated.customers::{{ type_double() }} / nullif(runs.n_eligible, 0))::{{ type_double() }}
            as share_of_eligible

    from aggregated
    left join runs
        on aggregated.run_id = runs.run_id

)

select * from final
