with source as (

    select * from {{ source('reco', 'run_outcome') }}

),

final as (

    select
        run_id,
        customer_code,
        campaign_id,
        grp,
        scenario,
        contacted,
        window_start,
        window_days,
        is_partial,
        n_orders,
        revenue,
        bought_recommended,
        bought_recommended_family,
        days_to_first_purchase,
        measured_at

    from source

)

select * from final
