-- Every scored customer of every run, with the group the run drew, whether the campaign
-- really contacted them and, once `reco outcomes` has measured the run, what the outcome window
-- sold. The base is the run's customers (not the outcomes), so that a run shows its groups and
-- contacts before it is measured.
with runs as (

    select * from {{ ref('stg_reco__runs') }}

),

run_customers as (

    select * from {{ ref('stg_reco__run_customers') }}

),

contact_events as (

    select * from {{ ref('stg_reco__contact_events') }}

),

run_outcomes as (

    select * from {{ ref('stg_reco__run_outcomes') }}

),

-- One row per run and customer (contact_event is unique on them).
run_contacts as (

    select
        run_id,
        customer_code,
        campaign_id,
        contact_date,
        not is_control as contacted

    from contact_events
    where run_id is not null

),

final as (

    select
        -- keys
        run_customers.run_id::{{ type_text() }} as run_id,
        run_customers.customer_code::{{ type_text() }} as customer_code,
        runs.as_of::date as as_of,
        coalesce(run_outcomes.campaign_id, run_contacts.campaign_id)::{{ type_text() }} as campaign_id,

        -- the draw at scoring time
        run_customers.grp::{{ type_text() }} as grp,
        run_customers.scenario::{{ type_text() }} as scenario,
        run_customers.segment::{{ type_text() }} as segment,
        run_customers.export_status::{{ type_text() }} as export_status,

        -- the campaign
        coalesce(run_contacts.contacted, false)::boolean as contacted,
        run_contacts.contact_date::date as contact_date,

        -- the outcome window (null until measured)
        (run_outcomes.run_id is not null)::boolean as is_measured,
        (run_outcomes.n_orders > 0)::boolean as converted,
        run_outcomes.n_orders::integer as n_orders,
        run_outcomes.revenue::{{ sql_type('numeric(18, 4)') }} as revenue,
        run_outcomes.bought_recommended::boolean as bought_recommended,
        run_outcomes.bought_recommended_family::boolean as bought_recommended_family,
        run_outcomes.days_to_first_purchase::integer as days_to_first_purchase,
        run_outcomes.is_partial::boolean as is_partial,
        run_outcomes.window_start::date as window_start,
        run_outcomes.window_days::integer as window_days

    from run_customers
    inner join runs
        on run_customers.run_id = runs.run_id
    left join run_contacts
        on
            run_customers.run_id = run_contacts.run_id
            and run_customers.customer_code = run_contacts.customer_code
    left join run_outcomes
        on
            run_customers.run_id = run_outcomes.run_id
            and run_customers.customer_code = run_outcomes.customer_code

)

select * from final
