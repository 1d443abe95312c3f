{{ config(materialized='table') }}

with sales_lines as (

    select * from {{ ref('stg_raw__sales_lines') }}

),

latest as (

    select max(order_date) as latest_order_date from sales_lines

),

final as (

    select
        coalesce(
            {{ as_of_date_literal() }},
            latest.latest_order_date,
            current_date
        ) as as_of_date,
        case
            when {{ as_of_date_literal() }} is not null then 'var'
            when latest.latest_order_date is not null then 'latest_order_date'
            else 'current_date'
        end as as_of_date_origin,
        latest.latest_order_date

    from latest

)

select * from final
