with source as (

    select * from {{ source('raw', 'load_file') }}

),

final as (

    select
        batch_id,
        file_no,
        path,
        sha256,
        bytes

    from source

)

select * from final
