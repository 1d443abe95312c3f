-- Every purchase line `reco outcomes` found in a run's outcome window, treated and control,
-- with the customer's scenario in the run: what a campaign's customers bought, line by line.
with outcome_events as (

    select * from {{ ref('stg_reco__outcome_events') }}

),

run_customers as (

    select * from {{ ref('stg_reco__run_customers') }}

),

final as (

    select
        outcome_events.outcome_event_id,
        outcome_events.run_id,
        outcome_events.campaign_id,
        outcome_events.customer_code,
        run_customers.scenario,
        case when outcome_events.is_control then 'control' else 'treatment' end as grp,
        outcome_events.order_date,
        outcome_events.doc_ref,
        outcome_events.product_key,
        outcome_events.was_recommended,
        {{ spark_cast('outcome_events.amount_ht', 'numeric(18, 4)') }} as amount_ht

    from outcome_events
    left join run_customers
        on
            outcome_events.run_id = run_customers.run_id
            and outcome_events.customer_code = run_customers.customer_code

)

select * from final
