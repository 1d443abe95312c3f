{{
    config(
        post_hook="{{ spec_index('ix_customer_email', ['email']) }}",
    )
}}

with merged as (

    select * from {{ ref('int_customers_merged') }}

),

final as (

    select
        customer_code::{{ type_text() }} as customer_code,
        email::{{ type_text() }} as email,
        first_name::{{ type_text() }} as first_name,
        last_name::{{ type_text() }} as last_name,
        country::{{ type_text() }} as country,
        is_contactable::boolean as is_contactable,
        is_bounced::boolean as is_bounced,
        is_optout::boolean as is_optout,
        batch_id::{{ type_text() }} as batch_id,
        n_source_codes::integer as n_source_codes

    from merged

)

select * from final
