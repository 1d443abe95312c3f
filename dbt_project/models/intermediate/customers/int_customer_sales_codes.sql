-- Customer codes as they appear on sales lines, with the batch and country of their latest
-- line: customers exist even when no customer file was ever loaded (Online Retail II).
with sales_lines as (

    select * from {{ ref('stg_raw__sales_lines') }}
    where order_date <= {{ as_of_date() }}

),

per_batch as (

    select
        customer_code,
        batch_id,
        country,
        max(loaded_at) as loaded_at,
        max(sales_line_id) as last_sales_line_id,
        min(order_date) as first_order_date

    from sales_lines
    group by customer_code, batch_id, country

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_code {{ collate_c() }}
            order by loaded_at desc, last_sales_line_id desc
        ) as recency_rank,
        min(first_order_date) over (partition by customer_code {{ collate_c() }}) as first_order_date_overall

    from per_batch

),

final as (

    select
        customer_code,
        batch_id as latest_batch_id,
        country as latest_country,
        loaded_at as latest_loaded_at,
        first_order_date_overall as first_order_date

    from ranked
    where recency_rank = 1

)

select * from final
