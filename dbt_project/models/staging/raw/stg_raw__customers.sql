with source as (

    select * from {{ source('raw', 'customer') }}

),

final as (

    select
        ---------- ids
        id as customer_record_id,
        btrim(customer_code) as customer_code,

        ---------- contact details
        {{ normalize_email('email') }} as email_normalized,
        nullif(btrim(first_name), '') as first_name,
        nullif(btrim(last_name), '') as last_name,
        nullif(btrim(country), '') as country,

        ---------- consent
        is_contactable,
        is_bounced,
        is_optout,

        ---------- dates
        signup_date,
        updated_at,

        ---------- lineage
        batch_id,
        source_file,
        source_row,
        loaded_at

    from source

)

select * from final
