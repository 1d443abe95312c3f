{#
    An index with the name the data-model spec gives it (ix_customer_email, …), as a post-hook.
    dbt's own `indexes` config names indexes by a hash. During a table rebuild the previous
    relation (renamed to a backup) still holds an index of that name until it is dropped after
    the commit, so drop the name first: it is either the backup's (dropped anyway) or absent.
    An incremental model appending to its table already has the index on it: left alone, since
    PostgreSQL maintains it as rows are added (rebuilding it would cost a full build's sort).
    Nothing on other engines (Spark's Parquet tables have no indexes).
#}
{% macro spec_index(name, columns) -%}
    {%- if target.type == 'postgres' -%}
    do $spec_index$
    begin
        if not exists (
            select 1 from pg_indexes
            where
                schemaname = '{{ this.schema }}'
                and tablename = '{{ this.identifier }}'
                and indexname = '{{ name }}'
        ) then
            drop index if exists {{ this.schema }}.{{ name }};
            create index {{ name }} on {{ this }} ({{ columns | join(', ') }});
        end if;
    end
    $spec_index$
    {%- endif -%}
{%- endmacro %}
