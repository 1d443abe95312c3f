-- A table on Spark: each mart lands there as a Parquet folder that `reco score --marts` reads.
{{ config(materialized='view' if target.type == 'postgres' else 'table') }}

-- Contacts imported from the e-mailing tool and contacts made by reco campaigns, on master
-- customer codes: every contact, whatever its date (a contact dated after the last sales line
-- is still a contact). A view over the staging views (durable raw and reco tables) and the
-- customer_code_map mart table, never over an unlogged intermediate table, so that a server
-- crash cannot empty it.
with imported_contacts as (

    select * from {{ ref('stg_raw__contacts') }}

),

reco_contacts as (

    select * from {{ ref('stg_reco__contact_events') }}

),

code_map as (

    select * from {{ ref('customer_code_map') }}

),

unioned as (

    select
        'import:' || contact_record_id as contact_id,
        customer_code,
        contact_date,
        channel,
        campaign_id,
        'import' as source,
        false as is_control,
        status

    from imported_contacts

    union all

    select
        'reco:' || contact_event_id as contact_id,
        customer_code,
        contact_date,
        channel,
        campaign_id,
        'reco' as source,
        is_control,
        null as status

    from reco_contacts

),

final as (

    select
        unioned.contact_id::{{ type_text() }} as contact_id,
        coalesce(code_map.customer_code, unioned.customer_code)::{{ type_text() }} as customer_code,
        unioned.contact_date::date as contact_date,
        unioned.channel::{{ type_text() }} as channel,
        unioned.campaign_id::{{ type_text() }} as campaign_id,
        unioned.source::{{ type_text() }} as source,
        unioned.is_control::boolean as is_control,
        unioned.status::{{ type_text() }} as status

    from unioned
    left join code_map
        on unioned.customer_code = code_map.source_customer_code

)

select * from final
