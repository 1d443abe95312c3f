{#
    r_score, f_score and m_score, 1 to 5, by quintile of the customers with a profile:

        score = 1 + floor(5 * (rank - 1) / n_customers)

    where rank is rank() (ties share the lowest rank) ordering from worst to best: recence_jours
    descending for R, nb_commandes ascending for F, ca_ht ascending for M. Equal values always
    get the same score (the quintile where their tie starts), whatever the row order, so ties
    are broken deterministically; with many ties (most customers order once) a quintile can be
    empty. rfm is the three digits, e.g. '545'; segment comes from the seed rfm_segments by
    (r_score, f_score).

    recence_jours (days from the last purchase to the as-of date) is worked out here, from the
    stored last_order_date of int_customer_rfm: the as-of date moves every night, and every
    customer's recency with it, without a scan of the lines.
#}

with customers as (

    select * from {{ ref('int_customer_rfm') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

rfm as (

    select
        customers.customer_code,
        as_of.as_of_date,
        customers.first_order_date,
        customers.last_order_date,
        {{ dbt.datediff('customers.last_order_date', 'as_of.as_of_date', 'day') }} as recence_jours,  -- noqa: LT05
        customers.nb_commandes,
        customers.ca_ht,
        customers.purchase_ht,
        customers.n_purchase_lines,
        customers.n_unmapped_lines,
        customers.avg_line_price_ht

    from customers
    cross join as_of

),

segments as (

    select * from {{ ref('rfm_segments') }}

),

ranked as (

    select
        *,
        rank() over (order by recence_jours desc) as r_rank,
        rank() over (order by nb_commandes asc) as f_rank,
        rank() over (order by ca_ht asc) as m_rank,
        count(*) over () as n_customers

    from rfm

),

scored as (

    select
        *,
        -- integer division: floor(5 (rank - 1) / n) exactly, and cheap in the segment join
        -- below, which evaluates the scores once per (customer, segment)
        (1 + 5 * (r_rank - 1) / n_customers)::integer as r_score,
        (1 + 5 * (f_rank - 1) / n_customers)::integer as f_score,
        (1 + 5 * (m_rank - 1) / n_customers)::integer as m_score

    from ranked

),

final as (

    select
        scored.customer_code,
        scored.as_of_date,
        scored.first_order_date,
        scored.last_order_date,
        scored.recence_jours,
        scored.nb_commandes,
        scored.ca_ht,
        scored.purchase_ht,
        scored.n_purchase_lines,
        scored.n_unmapped_lines,
        scored.avg_line_price_ht,
        scored.r_score,
        scored.f_score,
        scored.m_score,
        scored.r_score::{{ type_text() }}
        || scored.f_score::{{ type_text() }}
        || scored.m_score::{{ type_text() }} as rfm,
        segments.segment

    from scored
    left join segments
        on
            scored.r_score between segments.r_min and segments.r_max
            and scored.f_score between segments.f_min and segments.f_max

)

select * from final
