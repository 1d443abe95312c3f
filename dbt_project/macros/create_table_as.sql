{#
    Project override of dbt-postgres' create_table_as, for tables with an enforced contract.

    dbt-postgres builds a contracted table as `create table (columns + constraints)` then
    `insert … select`. On ten million order lines that is slow: PostgreSQL never runs the
    select of an INSERT in parallel, and the primary-key index is maintained row by row.
    Here the same contract is enforced in the other order, in the same transaction:

      1. the column names and types are checked against the contract at compile time
         (get_assert_columns_equivalent, as dbt does);
      2. `create table … as select <contract columns in contract order>` (parallel scan allowed);
      3. one `alter table` adds every not-null, primary-key, unique and check constraint; the
         primary-key index is built once by a (parallel) sort, and a violation fails the build
         exactly as the insert would have.

    The result is the same table: same columns, types, order, constraints and constraint names.
    Contracts with other constraints (foreign keys, custom, model-level) take dbt's own path.
#}
{% macro postgres__create_table_as(temporary, relation, sql) -%}
  {%- set unlogged = config.get('unlogged', default=false) -%}
  {%- set sql_header = config.get('sql_header', none) -%}
  {%- set contract_config = config.get('contract') -%}
  {%- set enforced = contract_config.enforced and not temporary -%}
  {%- set alterations = [] -%}
  {%- set unsupported = [] -%}
  {%- if enforced -%}
    {%- for column in model['columns'].values() -%}
      {%- set name = adapter.quote(column['name']) if column.get('quote') else column['name'] -%}
      {%- for constraint in column.get('constraints', []) -%}
        {%- if constraint.type == 'not_null' -%}
          {%- do alterations.append('alter column ' ~ name ~ ' set not null') -%}
        {%- elif constraint.type == 'primary_key' -%}
          {%- do alterations.append('add primary key (' ~ name ~ ')') -%}
        {%- elif constraint.type == 'unique' -%}
          {%- do alterations.append('add unique (' ~ name ~ ')') -%}
        {%- elif constraint.type == 'check' and constraint.expression -%}
          {%- do alterations.append('add check (' ~ constraint.expression ~ ')') -%}
        {%- else -%}
          {%- do unsupported.append(constraint.type) -%}
        {%- endif -%}
      {%- endfor -%}
    {%- endfor -%}
  {%- endif -%}
  {%- set deferrable = enforced and not model.get('constraints') and not unsupported -%}

  {{ sql_header if sql_header is not none }}

  create {% if temporary -%}
    temporary
  {%- elif unlogged -%}
    unlogged
  {%- endif %} table {{ relation }}
  {% if enforced %}
    {{ get_assert_columns_equivalent(sql) }}
  {% endif -%}
  {% if enforced and deferrable -%}
    as (
      {{ get_select_subquery(sql) }}
    );
    {% if alterations -%}
    alter table {{ relation }}
      {{ alterations | join(',\n      ') }};
    {%- endif %}
  {% elif enforced -%}
      {{ get_table_columns_and_constraints() }} ;
    insert into {{ relation }} (
      {{ adapter.dispatch('get_column_names', 'dbt')() }}
    )
    (
      {{ get_select_subquery(sql) }}
    );
  {% else -%}
    as (
      {{ sql }}
    );
  {%- endif %}
{%- endmacro %}
