with source as (

    select * from {{ source('raw', 'load_batch') }}

),

final as (

    select
        batch_id,
        entity,
        status,
        rows_read,
        rows_loaded,
        rows_rejected,
        rows_duplicate,
        started_at,
        finished_at,
        seconds,
        error,
        loaded_at

    from source

)

select * from final
