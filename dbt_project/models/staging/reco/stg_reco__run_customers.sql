with source as (

    select * from {{ source('reco', 'run_customer') }}

),

final as (

    select
        run_id,
        customer_code,
        scenario,
        grp,
        export_status,
        segment

    from source

)

select * from final
