-- Nothing silently dropped: every finished batch accounts for each row it read (loaded,
-- rejected or a duplicate), and each rejected row is kept in raw.reject with its reasons.
-- A failed batch landed nothing, whatever its counts say, and is left out.
select
    batch_id,
    entity,
    rows_read,
    rows_loaded,
    rows_rejected,
    rows_duplicate,
    rejects_recorded

from {{ ref('load_quality') }}
where
    status in ('succeeded', 'duplicate')
    and (rows_unaccounted <> 0 or rejects_recorded <> rows_rejected)
