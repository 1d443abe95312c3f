-- Every `reco load` batch with what became of its rows: read, loaded, rejected (and why) and
-- skipped as already loaded. For a finished batch, rows read = loaded + rejected + duplicates,
-- and every rejected row is in raw.reject (the test assert_load_quality_accounts_for_every_row).
with batches as (

    select * from {{ ref('stg_raw__load_batches') }}

),

files as (

    select * from {{ ref('stg_raw__load_files') }}

),

rejects as (

    select * from {{ ref('stg_raw__rejects') }}

),

file_totals as (

    select
        batch_id,
        count(*) as files,
        sum(bytes) as bytes

    from files
    group by batch_id

),

-- A row rejected for two reasons counts under both (as `reco load` reports it).
reject_reasons as (

    select
        rejects.batch_id,
        reason.reason_code,
        count(*) as n_rows

    from rejects
    {{ json_array_elements_text('rejects.reason_codes', 'reason', 'reason_code') }}
    group by rejects.batch_id, reason.reason_code

),

reject_totals as (

    select
        batch_id,
        count(*) as rejects_recorded

    from rejects
    group by batch_id

),

reasons_by_batch as (

    select
        batch_id,
        {{ json_object_agg('reason_code', 'n_rows') }} as rejects_by_reason,
        {{ first_by('reason_code', ['n_rows desc', 'reason_code asc']) }} as top_reject_reason

    from reject_reasons
    group by batch_id

),

final as (

    select
        -- the batch
        batches.batch_id::{{ type_text() }} as batch_id,
        batches.entity::{{ type_text() }} as entity,
        batches.status::{{ type_text() }} as status,
        batches.started_at::{{ sql_type('timestamptz') }} as started_at,
        batches.finished_at::{{ sql_type('timestamptz') }} as finished_at,
        batches.seconds::{{ type_double() }} as seconds,
        batches.loaded_at::{{ sql_type('timestamptz') }} as loaded_at,
        coalesce(file_totals.files, 0)::integer as files,
        file_totals.bytes::bigint as bytes,
        batches.error::{{ type_text() }} as error,

        -- rows
        batches.rows_read::bigint as rows_read,
        batches.rows_loaded::bigint as rows_loaded,
        batches.rows_rejected::bigint as rows_rejected,
        batches.rows_duplicate::bigint as rows_duplicate,
        (
            batches.rows_read - batches.rows_loaded - batches.rows_rejected - batches.rows_duplicate
        )::bigint as rows_unaccounted,
        (batches.rows_rejected::{{ type_double() }} / nullif(batches.rows_read, 0))::{{ type_double() }}
            as reject_rate,

        -- rejects
        coalesce(reject_totals.rejects_recorded, 0)::bigint as rejects_recorded,
        coalesce(reasons_by_batch.rejects_by_reason, '{}'::{{ sql_type('jsonb') }})::{{ sql_type('jsonb') }}
            as rejects_by_reason,
        reasons_by_batch.top_reject_reason::{{ type_text() }} as top_reject_reason

    from batches
    left join file_totals
        on batches.batch_id = file_totals.batch_id
    left join reject_totals
        on batches.batch_id = reject_totals.batch_id
    left join reasons_by_batch
        on batches.batch_id = reasons_by_batch.batch_id

)

select * from final
