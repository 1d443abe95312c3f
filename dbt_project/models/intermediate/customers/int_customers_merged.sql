-- Indentation (LT02) is not linted here: sqlfluff re-indents Jinja-generated blocks and array
-- subscripts in ways that read worse than the layout below.
-- noqa: disable=LT02
{{
    config(
        pre_hook="{{ postgres_only('set enable_mergejoin = off') }}",
        post_hook="{{ postgres_only('reset enable_mergejoin') }}",
    )
}}

-- The records join the code map by hash: PostgreSQL underestimates the join and would sort
-- both sides on the codes for a merge join (hence enable_mergejoin off for this model only).

{#
    One golden record per master customer (see int_customer_codes_clustered for who merges).

    - Contact details (e-mail, names, country) come from the most recent record that has a
      value: records ordered by updated_at (missing last), then load time, then record id.
      Customers known only from sales take the country of their latest sales line.
    - is_optout: opted out when any record of any merged code says so, or when the e-mailing
      tool reported an unsubscribe or a spam complaint for any merged code (a raw.contact
      status whose consent_effect is optout in the seed contact_statuses): an unsubscribe is
      never undone by a later record.
    - is_bounced: the latest known bounce status of the master's current e-mail address; a
      bounce on an address the customer no longer uses does not count. Conservatively, a
      hard bounce reported by the e-mailing tool for any merged code (consent_effect
      bounced) also counts, unless a customer record was updated after the day of the
      bounce (a new address, say); the same day, or a record without updated_at, keeps the
      bounce. A soft bounce does not count.
    - is_contactable: an address, not opted out, not bounced, and no record saying the
      customer may not be contacted.
    - batch_id: the batch of the latest record (the latest sales batch for sales-only
      customers).
#}

with customers as (

    select * from {{ ref('stg_raw__customers') }}

),

code_map as (

    select * from {{ ref('int_customer_codes_clustered') }}

),

contacts as (

    select * from {{ ref('stg_raw__contacts') }}

),

contact_statuses as (

    select * from {{ ref('contact_statuses') }}

),

sales_codes as (

    select * from {{ ref('int_customer_sales_codes') }}

),

records_ranked as (

    select
        customers.*,
        code_map.customer_code as master_customer_code,
        row_number() over (
            partition by code_map.customer_code {{ collate_c() }}  -- noqa: RF02
            order by
                customers.updated_at desc nulls last,
                customers.loaded_at desc,
                customers.customer_record_id desc
        ) as recency_rank

    from customers
    inner join code_map
        on customers.customer_code = code_map.source_customer_code

),

record_values as (

    select
        master_customer_code,
        {{ first_by('email_normalized', ['recency_rank'], 'email_normalized is not null') }} as email,
        {{ first_by('first_name', ['recency_rank'], 'first_name is not null') }} as first_name,
        {{ first_by('last_name', ['recency_rank'], 'last_name is not null') }} as last_name,
        {{ first_by('country', ['recency_rank'], 'country is not null') }} as country,
        min(batch_id) filter (where recency_rank = 1) as batch_id,
        bool_or(coalesce(is_optout, false)) as is_optout,
        bool_or(is_contactable = false) as has_no_contact_record

    from records_ranked
    group by master_customer_code

),

current_address_bounces as (

    select
        records_ranked.master_customer_code,
        {{ first_by(
            'records_ranked.is_bounced', ['records_ranked.recency_rank'], 'records_ranked.is_bounced is not null'
        ) }} as is_bounced

    from records_ranked
    inner join record_values
        on records_ranked.master_customer_code = record_values.master_customer_code
        and records_ranked.email_normalized = record_values.email
    group by records_ranked.master_customer_code

),

contact_feedback as (

    select
        code_map.customer_code as master_customer_code,
        max(contacts.contact_date) filter (
            where contact_statuses.consent_effect = 'bounced'
        ) as last_hard_bounce_date,
        bool_or(contact_statuses.consent_effect = 'optout') as has_unsubscribed

    from contacts
    inner join contact_statuses
        on contacts.status = contact_statuses.status
    inner join code_map
        on contacts.customer_code = code_map.source_customer_code
    where contact_statuses.consent_effect is not null
    group by code_map.customer_code

),

latest_record_updates as (

    select
        master_customer_code,
        max(updated_at) as latest_updated_at,
        bool_or(updated_at is null) as has_undated_record

    from records_ranked
    group by master_customer_code

),

masters as (

    select
        customer_code,
        count(*) as n_source_codes

    from code_map
    group by customer_code

),

final as (

    select
        masters.customer_code,
        record_values.email,
        record_values.first_name,
        record_values.last_name,
        coalesce(record_values.country, sales_codes.latest_country) as country,
        (
            coalesce(current_address_bounces.is_bounced, false)
            or (
                contact_feedback.last_hard_bounce_date is not null
                and (
                    latest_record_updates.latest_updated_at is null
                    or latest_record_updates.has_undated_record
                    or latest_record_updates.latest_updated_at::date
                    <= contact_feedback.last_hard_bounce_date
                )
            )
        ) as is_bounced,
        (
            coalesce(record_values.is_optout, false)
            or coalesce(contact_feedback.has_unsubscribed, false)
        ) as is_optout,
        coalesce(record_values.has_no_contact_record, false) as has_no_contact_record,
        coalesce(record_values.batch_id, sales_codes.latest_batch_id) as batch_id,
        masters.n_source_codes

    from masters
    left join record_values
        on masters.customer_code = record_values.master_customer_code
    left join current_address_bounces
        on masters.customer_code = current_address_bounces.master_customer_code
    left join sales_codes
        on masters.customer_code = sales_codes.customer_code
    left join contact_feedback
        on masters.customer_code = contact_feedback.master_customer_code
    left join latest_record_updates
        on masters.customer_code = latest_record_updates.master_customer_code

)

select
    *,
    (
        email is not null
        and not is_optout
        and not is_bounced
        and not has_no_contact_record
    ) as is_contactable

from final
