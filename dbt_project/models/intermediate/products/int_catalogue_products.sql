-- The catalogue as of its latest load: when a product_key arrives in several batches, the most
-- recently loaded row wins (then the highest record id).
with products as (

    select * from {{ ref('stg_raw__products') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by product_key
            order by loaded_at desc, product_record_id desc
        ) as recency_rank

    from products

),

final as (

    select * from ranked
    where recency_rank = 1

)

select * from final
