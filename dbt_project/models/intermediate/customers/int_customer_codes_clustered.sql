-- Indentation (LT02) is not linted here: sqlfluff re-indents Jinja-generated blocks and array
-- subscripts in ways that read worse than the layout below.
-- noqa: disable=LT02
{{ config(materialized='table') }}

{#
    Groups source customer codes into master customers: two codes belong together when they
    ever carried the same normalised e-mail (in any batch), and the same code across batches is
    one customer. This is a connected-components problem, solved by label propagation: every
    code starts labelled with itself, and each round gives each code the smallest label among
    the codes sharing one of its e-mails. var('customer_dedupe_rounds') rounds (default 6)
    settle every chain of up to that many e-mail hops; the data test
    assert_one_master_per_email fails the build if a longer chain is left unsettled.

    Survivor rule (which code becomes the master): the code with the earliest signup_date
    (codes without one come last), then the earliest loaded, then the smallest code. The oldest
    account survives, so the master code of a customer does not change when a newer duplicate
    arrives in a later batch.
#}
{%- set rounds = var('customer_dedupe_rounds', 6) %}

with customers as (

    select * from {{ ref('stg_raw__customers') }}

),

sales_codes as (

    select * from {{ ref('int_customer_sales_codes') }}

),

customer_record_codes as (

    select
        customer_code,
        min(signup_date) as first_signup_date,
        min(loaded_at) as first_loaded_at

    from customers
    group by customer_code

),

all_codes as (

    select
        coalesce(records.customer_code, sales.customer_code) as customer_code,
        records.customer_code is not null as has_customer_record,
        sales.customer_code is not null as has_sales,
        records.first_signup_date,
        coalesce(records.first_loaded_at, sales.latest_loaded_at) as first_loaded_at

    from customer_record_codes as records
    full outer join sales_codes as sales
        on records.customer_code = sales.customer_code

),

code_emails as (

    select distinct
        customer_code,
        email_normalized

    from customers
    where email_normalized is not null

),

---------- label propagation over the code <-> e-mail graph
-- Only the edges that can link two codes take part: an e-mail carried by several codes, or a
-- code with several e-mails. Everyone else (most customers) is a cluster of one.

email_degrees as (

    select
        email_normalized,
        count(*) as n_codes

    from code_emails
    group by email_normalized

),

code_degrees as (

    select
        customer_code,
        count(*) as n_emails

    from code_emails
    group by customer_code

),

linked_edges as (

    select code_emails.*
    from code_emails
    inner join email_degrees
        on code_emails.email_normalized = email_degrees.email_normalized
    inner join code_degrees
        on code_emails.customer_code = code_degrees.customer_code
    where email_degrees.n_codes > 1 or code_degrees.n_emails > 1

),

labels_0 as (

    select distinct
        customer_code,
        customer_code as cluster_id

    from linked_edges

),

{% for i in range(1, rounds + 1) %}
email_labels_{{ i }} as (

    select
        linked_edges.email_normalized,
        min(labels.cluster_id) as cluster_id

    from linked_edges
    inner join labels_{{ i - 1 }} as labels
        on linked_edges.customer_code = labels.customer_code
    group by linked_edges.email_normalized

),

labels_{{ i }} as (

    select
        linked_edges.customer_code,
        min(email_labels.cluster_id) as cluster_id

    from linked_edges
    inner join email_labels_{{ i }} as email_labels
        on linked_edges.email_normalized = email_labels.email_normalized
    group by linked_edges.customer_code

),

{% endfor %}
clustered as (

    select
        all_codes.*,
        coalesce(labels.cluster_id, all_codes.customer_code) as cluster_id

    from all_codes
    left join labels_{{ rounds }} as labels
        on all_codes.customer_code = labels.customer_code

),

---------- survivor rule

survivors as (

    select
        *,
        first_value(customer_code) over (
            partition by cluster_id {{ collate_c() }}
            order by first_signup_date asc nulls last, first_loaded_at asc, customer_code asc
        ) as master_customer_code

    from clustered

),

final as (

    select
        customer_code as source_customer_code,
        master_customer_code as customer_code,
        has_customer_record,
        has_sales

    from survivors

)

select * from final
