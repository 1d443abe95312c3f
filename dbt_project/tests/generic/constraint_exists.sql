{#
    The table carries a primary-key (kind 'primary_key') or unique (kind 'unique') constraint on
    exactly these columns, read from PostgreSQL's catalog: the database then guarantees unique
    (and, for a primary key, not-null) values on every write, so the test costs a catalog lookup
    instead of a scan of the table. Column-level: the column itself; table-level: `columns`.
    Fails with one row naming the table and the columns when the constraint is missing.

    On an engine without enforced constraints (Spark's Parquet tables), the same guarantee is
    checked on the data instead: no null in the columns and, for both kinds, no duplicate.
#}
{% test constraint_exists(model, column_name=none, columns=none, kind='primary_key') %}

{%- set wanted = columns if columns is not none else [column_name] -%}
{%- set contype = {'primary_key': 'p', 'unique': 'u'}[kind] -%}

{%- if target.type != 'postgres' %}

select
    {{ wanted | join(', ') }},
    count(*) as n_rows

from {{ model }}
group by {{ wanted | join(', ') }}
having
    count(*) > 1
    {%- if kind == 'primary_key' %}
    {%- for c in wanted %}
    or {{ c }} is null
    {%- endfor %}
    {%- endif %}

{%- else %}

with constraints as (

    select
        array_agg(attributes.attname::text order by attributes.attname) as constrained_columns

    from pg_catalog.pg_constraint as constraints
    inner join pg_catalog.pg_class as tables
        on constraints.conrelid = tables.oid
    inner join pg_catalog.pg_namespace as namespaces
        on tables.relnamespace = namespaces.oid
    inner join pg_catalog.pg_attribute as attributes
        on
            attributes.attrelid = tables.oid
            and attributes.attnum = any(constraints.conkey)
    where
        namespaces.nspname = '{{ model.schema }}'
        and tables.relname = '{{ model.identifier }}'
        and constraints.contype = '{{ contype }}'
    group by constraints.oid

),

wanted as (

    select array(
        select column_name
        from unnest(array[{% for c in wanted %}'{{ c }}'{% if not loop.last %}, {% endif %}{% endfor %}]::text[])
            as wanted_columns (column_name)
        order by column_name
    ) as wanted_columns

)

select
    '{{ model.schema }}.{{ model.identifier }}' as table_name,
    '{{ kind }}' as constraint_kind,
    wanted.wanted_columns

from wanted
where not exists (
    select 1
    from constraints
    where constraints.constrained_columns = wanted.wanted_columns
)

{%- endif %}

{% endtest %}
