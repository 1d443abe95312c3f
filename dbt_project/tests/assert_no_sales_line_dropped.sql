-- Nothing is silently dropped: order_line has as many lines as the raw sales lines dated on
-- or before the as-of date (its ids come from them and are a primary key, so equal counts
-- mean every line is there). Counting avoids an anti-join of ten million ids. On reco's
-- incremental path, the new lines only (macro new_lines_only): reco checks before appending
-- that order_line still holds exactly the earlier ones (count and sum of ids).
with sales_lines as (

    select count(*) as n_lines
    from {{ ref('stg_raw__sales_lines') }}
    where order_date <= {{ as_of_date() }} and {{ new_lines_only('sales_line_id') }}

),

order_lines as (

    select count(*) as n_lines
    from {{ ref('order_line') }}
    where {{ new_lines_only('id') }}

)

select
    sales_lines.n_lines as n_sales_lines,
    order_lines.n_lines as n_order_lines

from sales_lines
cross join order_lines
where sales_lines.n_lines <> order_lines.n_lines
