{#
    One row per master customer with at least one purchase on or before the as-of date:
    RFM (int_customer_rfm_scored), top-3 shares (int_customer_attribute_shares) and the aroma
    profile (int_customer_aroma_profiles). aroma_level bands aroma_confidence: none (0), low
    (< 1/3), medium (< 2/3), high.
#}
{%- set dimensions = ['family', 'grape', 'sugar', 'budget'] %}

with rfm as (

    select * from {{ ref('int_customer_rfm_scored') }}

),

shares as (

    select * from {{ ref('int_customer_attribute_shares') }}

),

aromas as (

    select * from {{ ref('int_customer_aroma_profiles') }}

),

final as (

    select
        ---------- ids
        rfm.customer_code::{{ type_text() }} as customer_code,
        rfm.as_of_date::date as as_of_date,
        rfm.first_order_date::date as first_order_date,
        rfm.last_order_date::date as last_order_date,

        ---------- RFM
        rfm.recence_jours::integer as recence_jours,
        rfm.nb_commandes::integer as nb_commandes,
        rfm.ca_ht::{{ type_double() }} as ca_ht,
        rfm.r_score::integer as r_score,
        rfm.f_score::integer as f_score,
        rfm.m_score::integer as m_score,
        rfm.rfm::{{ type_text() }} as rfm,
        rfm.segment::{{ type_text() }} as segment,

        ---------- top values and their share of purchase revenue
        {% for name in dimensions -%}
            {% for n in [1, 2, 3] -%}
                shares.top_{{ name }}_{{ n }}::{{ type_text() }} as top_{{ name }}_{{ n }},
                shares.top_{{ name }}_{{ n }}_ca_share::{{ type_double() }}
                    as top_{{ name }}_{{ n }}_ca_share,
            {% endfor -%}
        {% endfor %}
        ---------- aroma profile
        aromas.aroma_axe_1::{{ type_text() }} as aroma_axe_1,
        aromas.aroma_score_1::{{ type_double() }} as aroma_score_1,
        aromas.aroma_axe_2::{{ type_text() }} as aroma_axe_2,
        aromas.aroma_score_2::{{ type_double() }} as aroma_score_2,
        coalesce(aromas.aroma_confidence, 0)::{{ type_double() }} as aroma_confidence,
        (
            case
                when coalesce(aromas.aroma_confidence, 0) = 0 then 'none'
                when aromas.aroma_confidence < 1.0 / 3 then 'low'
                when aromas.aroma_confidence < 2.0 / 3 then 'medium'
                else 'high'
            end
        )::{{ type_text() }} as aroma_level,

        ---------- basket
        rfm.avg_line_price_ht::{{ type_double() }} as avg_line_price_ht,
        rfm.n_unmapped_lines::integer as n_unmapped_lines

    from rfm
    left join shares
        on rfm.customer_code = shares.customer_code
    left join aromas
        on rfm.customer_code = aromas.customer_code

)

select * from final
