with source as (

    select * from {{ source('reco', 'reco_run') }}

),

final as (

    select
        run_id,
        status,
        as_of,
        started_at,
        finished_at,
        config_json,
        package_version,
        git_commit,
        input_fingerprint,
        counts_json,
        n_eligible,
        n_suppressed,
        error

    from source

)

select * from final
