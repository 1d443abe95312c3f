with code_map as (

    select * from {{ ref('int_customer_codes_clustered') }}

),

final as (

    select
        source_customer_code::{{ type_text() }} as source_customer_code,
        customer_code::{{ type_text() }} as customer_code,
        has_customer_record::boolean as has_customer_record,
        has_sales::boolean as has_sales

    from code_map

)

select * from final
