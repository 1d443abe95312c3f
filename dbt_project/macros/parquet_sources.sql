{#
    The sources on Spark: Parquet folders, one per source table, as `reco load --parquet PATH`
    lands them (PATH/<raw table>/<batch file>.parquet, the raw table's own columns). An
    on-run-start hook (dbt_project.yml) registers each source table of the schemas raw and reco
    as an external Parquet table over its folder, re-created at every run so that batches landed
    since are read:

      raw.<table>   ← <raw_parquet_path>/<table>/    (var raw_parquet_path, else the
                                                      environment variable RECO_RAW_PARQUET)
      reco.<table>  ← <reco_parquet_path>/<table>/   (var reco_parquet_path, else RECO_RECO_PARQUET;
                                                      default: the folder reco/ beside the raw path)

    and raw.sales_line_lineage as the view Alembic defines in PostgreSQL (migration 0007). The raw
    folders are written by `reco load --parquet`, which gives a table with no rows yet a zero-row
    empty.parquet of its schema; the reco folders by `reco export-sources PATH`. A missing folder
    (a wrong path, or no export yet) fails the run with Spark's error naming the path. Nothing
    on PostgreSQL, whose sources are Alembic's tables.
#}
{% macro register_parquet_sources() -%}
    {%- if target.type == 'spark' and execute -%}
        {%- set raw_path = var('raw_parquet_path', env_var('RECO_RAW_PARQUET', '')) | string | trim -%}
        {%- if not raw_path -%}
            {{ exceptions.raise_compiler_error(
                "Spark reads the raw tables from Parquet: set the var raw_parquet_path "
                ~ "or the environment variable RECO_RAW_PARQUET to the folder `reco load --parquet` writes"
            ) }}
        {%- endif -%}
        {%- set reco_path = var('reco_parquet_path', env_var('RECO_RECO_PARQUET', '')) | string | trim
            or raw_path.rstrip('/') ~ '/reco' -%}
        {%- set roots = {'raw': raw_path.rstrip('/'), 'reco': reco_path.rstrip('/')} -%}
        {%- for source_schema in ['raw', 'reco'] -%}
            {%- do run_query('create database if not exists ' ~ source_schema) -%}
        {%- endfor -%}
        {%- for node in graph.sources.values() | sort(attribute='unique_id') -%}
            {%- if node.schema in roots and node.identifier != 'sales_line_lineage' -%}
                {%- set relation = node.schema ~ '.' ~ node.identifier -%}
                {%- set folder = roots[node.schema] ~ '/' ~ node.identifier -%}
                {%- do run_query('drop table if exists ' ~ relation) -%}
                {%- do run_query('create table ' ~ relation ~ " using parquet location '" ~ folder ~ "'") -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do run_query(
            'create or replace view raw.sales_line_lineage as '
            ~ 'select s.*, f.path as source_file, f.sha256 as source_sha256, b.loaded_at '
            ~ 'from raw.sales_line as s '
            ~ 'left join raw.load_file as f on f.batch_id = s.batch_id and f.file_no = s.file_no '
            ~ 'left join raw.load_batch as b on b.batch_id = s.batch_id'
        ) -%}
    {%- endif -%}
{%- endmacro %}

{#
    Spark's Parquet tables enforce no constraint: the contracts' not-null and primary-key
    constraints (enforced by PostgreSQL on every write) are checked on the data at the end of
    each Spark run (an on-run-end hook), and a violation fails the run naming the model, the
    column and the count. Primary keys are also checked by their data tests (constraint_exists,
    which counts duplicates and nulls on Spark). Nothing on PostgreSQL.
#}
{% macro check_contract_constraints(results) -%}
    {%- if target.type == 'spark' and execute -%}
        {%- set built = [] -%}
        {%- for result in results if result.node.resource_type == 'model' and result.status == 'success' -%}
            {%- do built.append(result.node.unique_id) -%}
        {%- endfor -%}
        {%- set violations = [] -%}
        {%- for node in graph.nodes.values() | sort(attribute='unique_id')
            if node.unique_id in built and node.config.contract.enforced -%}
            {%- set checks = [] -%}
            {%- for name, column in node.columns.items() -%}
                {%- for constraint in column.constraints if constraint.type in ('not_null', 'primary_key') -%}
                    {%- do checks.append("count_if(" ~ name ~ " is null) as " ~ name) -%}
                {%- endfor -%}
            {%- endfor -%}
            {%- if checks -%}
                {%- set row = run_query('select ' ~ checks | join(', ') ~ ' from ' ~ node.relation_name).rows[0] -%}
                {%- for name in row.keys() if row[name] -%}
                    {%- do violations.append(node.name ~ '.' ~ name ~ ': ' ~ row[name] ~ ' null(s)') -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if violations -%}
            {{ exceptions.raise_compiler_error("Contract constraints violated on Spark: " ~ violations | join('; ')) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
