-- Every (r_score, f_score) cell of the 5x5 grid has exactly one segment in the seed.
with segments as (

    select * from {{ ref('rfm_segments') }}

),

grid as (

    select
        r_score,
        f_score
    from {{ series(1, 5, 'r', 'r_score') }}
    cross join {{ series(1, 5, 'f', 'f_score') }}

)

select
    grid.r_score,
    grid.f_score,
    count(segments.segment) as n_segments

from grid
left join segments
    on
        grid.r_score between segments.r_min and segments.r_max
        and grid.f_score between segments.f_min and segments.f_max
group by grid.r_score, grid.f_score
having count(segments.segment) <> 1
