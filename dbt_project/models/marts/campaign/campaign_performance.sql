-- The groups of each run and scenario side by side: counts, then the rates the uplift report
-- compares. Rates are over the measured customers (null until `reco outcomes` has measured the
-- run); `reco report` gives their intervals.
with campaign_customers as (

    select * from {{ ref('campaign_customer') }}

),

aggregated as (

    select
        run_id,
        scenario,
        grp,
        min(as_of) as as_of,
        count(*) as customers,
        count(*) filter (where contacted) as contacted,
        count(*) filter (where is_measured) as measured_customers,
        count(*) filter (where converted) as conversions,
        count(*) filter (where bought_recommended) as recommended_buyers,
        sum(revenue) as revenue,
        coalesce(bool_or(is_partial), false) as is_partial

    from campaign_customers
    group by run_id, scenario, grp

),

final as (

    select
        run_id::{{ type_text() }} as run_id,
        scenario::{{ type_text() }} as scenario,
        grp::{{ type_text() }} as grp,
        as_of::date as as_of,

        -- counts
        customers::integer as customers,
        contacted::integer as contacted,
        measured_customers::integer as measured_customers,
        conversions::integer as conversions,
        recommended_buyers::integer as recommended_buyers,
        revenue::{{ sql_type('numeric(18, 4)') }} as revenue,

        -- rates over the measured customers
        (conversions::{{ type_double() }} / nullif(measured_customers, 0))::{{ type_double() }}
            as conversion_rate,
        (revenue::{{ type_double() }} / nullif(measured_customers, 0))::{{ type_double() }}
            as revenue_per_customer,
        (recommended_buyers::{{ type_double() }} / nullif(measured_customers, 0))::{{ type_double() }}
            as recommended_rate,

        is_partial::boolean as is_partial

    from aggregated

)

select * from final
