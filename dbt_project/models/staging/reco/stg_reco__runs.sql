with source as (

    select * from {{ source('reco', 'reco_run') }}

),

final as (

    select
        run_id,
        status,
        as_of,
        started_at,
        finished_at

    from source

)

select * from final
