-- Every normalised e-mail belongs to exactly one master customer: fails if the label
-- propagation of int_customer_codes_clustered needed more rounds than it was given.
with customers as (

    select * from {{ ref('stg_raw__customers') }}

),

code_map as (

    select * from {{ ref('customer_code_map') }}

)

select
    customers.email_normalized,
    count(distinct code_map.customer_code) as n_masters

from customers
inner join code_map
    on customers.customer_code = code_map.source_customer_code
where customers.email_normalized is not null
group by customers.email_normalized
having count(distinct code_map.customer_code) > 1
