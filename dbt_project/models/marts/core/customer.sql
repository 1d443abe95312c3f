{{
    config(
        indexes=[{'columns': ['email']}],
    )
}}

with merged as (

    select * from {{ ref('int_customers_merged') }}

),

final as (

    select
        customer_code::text as customer_code,
        email::text as email,
        first_name::text as first_name,
        last_name::text as last_name,
        country::text as country,
        is_contactable::boolean as is_contactable,
        is_bounced::boolean as is_bounced,
        is_optout::boolean as is_optout,
        batch_id::text as batch_id,
        n_source_codes::integer as n_source_codes

    from merged

)

select * from final
