-- MetricFlow's daily time spine: every day from 2000-01-01 to 2039-12-31 (14,610 rows), so that
-- a metric grouped by day, week, month or year has a row for a period without sales. The range
-- covers any retailer's history this project is likely to see; widen it here if yours is older.
with days as (

    select spine_day::date as date_day
    from {{ series("'2000-01-01'::date", "'2039-12-31'::date", 'spine_days', 'spine_day', step='day') }}

),

final as (

    select date_day::date as date_day
    from days

)

select * from final
