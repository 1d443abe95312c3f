with source as (

    select * from {{ source('raw', 'reject') }}

),

final as (

    select
        id as reject_id,
        batch_id,
        entity,
        source_file,
        source_row,
        raw_text,
        reason_codes,
        details,
        loaded_at

    from source

)

select * from final
