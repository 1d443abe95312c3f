-- One line per scoring run: what it scored, how many customers and recommendations each
-- scenario got, the control group it held out, what it suppressed and flagged, and what
-- self-validation chose. Counts come from the rows the run wrote (reco_item, run_customer,
-- audit_item); the figures only the run knows (customers considered, the validation record)
-- come from its counts_json.
{%- set scenarios = ['REBUY', 'CROSS_SELL', 'UPSELL', 'WINBACK', 'NURTURE'] %}

with runs as (

    select * from {{ ref('stg_reco__runs') }}

),

items as (

    select * from {{ ref('stg_reco__items') }}

),

run_customers as (

    select * from {{ ref('stg_reco__run_customers') }}

),

audit_items as (

    select * from {{ ref('stg_reco__audit_items') }}

),

item_counts as (

    select
        run_id,
        count(distinct customer_code) as recommended_customers,
        count(*) as recommendations,
        {%- for scenario in scenarios %}
            count(distinct customer_code) filter (where scenario = '{{ scenario }}')
                as customers_{{ scenario | lower }},
            count(*) filter (where scenario = '{{ scenario }}')
                as recommendations_{{ scenario | lower }},
        {%- endfor %}
        avg(score) filter (where rank = 1) as avg_top_score

    from items
    group by run_id

),

group_counts as (

    select
        run_id,
        count(*) filter (where grp = 'treatment') as treatment_customers,
        count(*) filter (where grp = 'control') as control_customers,
        count(*) filter (where export_status = 'exported') as exported_customers,
        count(*) filter (where export_status = 'suppressed') as export_suppressed_customers

    from run_customers
    group by run_id

),

audit_counts as (

    select
        run_id,
        count(*) as audit_items,
        count(*) filter (where severity = 'warning') as audit_warnings,
        count(*) filter (where severity = 'error') as audit_errors

    from audit_items
    group by run_id

),

final as (

    select
        -- the run
        runs.run_id::{{ type_text() }} as run_id,
        runs.status::{{ type_text() }} as status,
        runs.as_of::date as as_of,
        runs.started_at::{{ sql_type('timestamptz') }} as started_at,
        runs.finished_at::{{ sql_type('timestamptz') }} as finished_at,
        {{ seconds_between('runs.started_at', 'runs.finished_at') }}::{{ type_double() }} as duration_seconds,
        runs.package_version::{{ type_text() }} as package_version,
        runs.git_commit::{{ type_text() }} as git_commit,
        runs.error::{{ type_text() }} as error,

        -- who was scored
        {{ json_get('runs.counts_json', ['customers']) }}::integer as considered_customers,
        runs.n_eligible::integer as eligible_customers,
        runs.n_suppressed::integer as suppressed_customers,
        {{ json_get('runs.counts_json', ['suppressed_by_reason'], as_json=true) }}::{{ sql_type('jsonb') }}
            as suppressed_by_reason,

        -- what was recommended (0 for a run that wrote nothing)
        coalesce(item_counts.recommended_customers, 0)::integer as recommended_customers,
        coalesce(item_counts.recommendations, 0)::integer as recommendations,
        {%- for scenario in scenarios %}
            coalesce(item_counts.customers_{{ scenario | lower }}, 0)::integer
                as customers_{{ scenario | lower }},
            coalesce(item_counts.recommendations_{{ scenario | lower }}, 0)::integer
                as recommendations_{{ scenario | lower }},
        {%- endfor %}
        item_counts.avg_top_score::{{ type_double() }} as avg_top_score,
        {{ json_get('runs.counts_json', ['fallback_filled_customers']) }}::integer
            as fallback_filled_customers,
        {{ json_get('runs.counts_json', ['short_list_customers']) }}::integer as short_list_customers,

        -- the control group and the export
        coalesce(group_counts.treatment_customers, 0)::integer as treatment_customers,
        coalesce(group_counts.control_customers, 0)::integer as control_customers,
        {{ json_get('runs.config_json', ['campaign', 'control_share']) }}::{{ type_double() }}
            as control_share,
        coalesce(group_counts.exported_customers, 0)::integer as exported_customers,
        coalesce(group_counts.export_suppressed_customers, 0)::integer as export_suppressed_customers,

        -- self-validation (docs/scoring.md)
        {{ json_get('runs.counts_json', ['validation', 'assignment', 'choice']) }}::{{ type_text() }}
            as validation_choice,
        coalesce(
            {{ json_get('runs.counts_json', ['validation', 'assignment', 'why']) }},
            {{ json_get('runs.counts_json', ['validation', 'skipped']) }}
        )::{{ type_text() }} as validation_why,

        -- audit
        coalesce(audit_counts.audit_items, 0)::integer as audit_items,
        coalesce(audit_counts.audit_warnings, 0)::integer as audit_warnings,
        coalesce(audit_counts.audit_errors, 0)::integer as audit_errors

    from runs
    left join item_counts
        on runs.run_id = item_counts.run_id
    left join group_counts
        on runs.run_id = group_counts.run_id
    left join audit_counts
        on runs.run_id = audit_counts.run_id

)

select * from final
