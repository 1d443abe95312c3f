-- Nothing is silently dropped: every raw sales line dated on or before the as-of date is in
-- order_line.
with sales_lines as (

    select * from {{ ref('stg_raw__sales_lines') }}
    where order_date <= {{ as_of_date() }}

),

order_lines as (

    select * from {{ ref('order_line') }}

)

select sales_lines.sales_line_id
from sales_lines
left join order_lines
    on sales_lines.sales_line_id = order_lines.id
where order_lines.id is null
