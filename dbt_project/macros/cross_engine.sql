{#
    One dbt project, two engines: PostgreSQL (the default) and Apache Spark (dbt-spark). Each
    construct PostgreSQL spells its own way is written once, here, behind adapter.dispatch:
    postgres__ (and default__) keep exactly the SQL the models had, so PostgreSQL builds the same
    tables byte for byte; spark__ is Spark SQL with the same result. docs/scale.md ("Two
    engines") lists them with what each engine does; tests/dbt/test_spark_equality.py checks
    every mart row by row across the two engines.
#}

{#
    A PostgreSQL type name as the engine spells it. Models and contracts are written in
    PostgreSQL's types (text, double precision, numeric(18, 4), timestamptz, jsonb…); on Spark:
    text → string, double precision/float → double (never Spark's 32-bit float: dbt.type_float()
    is that), integer → int, numeric(p, s) → decimal(p, s), a bare numeric → decimal(38, 18)
    (Spark's bare decimal is decimal(10, 0): it would round to integers, silently),
    timestamptz → timestamp, timestamp → timestamp_ntz, json/jsonb → string (JSON text), text[] →
    array<string>. An unknown name is an error rather than a guess.
#}
{% macro sql_type(pg_type) -%}
    {{ return(adapter.dispatch('sql_type')(pg_type)) }}
{%- endmacro %}

{% macro default__sql_type(pg_type) -%}
    {{ return(pg_type) }}
{%- endmacro %}

{% macro spark__sql_type(pg_type) -%}
    {%- set name = pg_type | trim | lower -%}
    {%- set simple = {
        'text': 'string', 'varchar': 'string', 'double precision': 'double', 'float': 'double',
        'float8': 'double', 'integer': 'int', 'int': 'int', 'int4': 'int', 'bigint': 'bigint',
        'int8': 'bigint', 'smallint': 'smallint', 'boolean': 'boolean', 'bool': 'boolean',
        'date': 'date', 'timestamptz': 'timestamp', 'timestamp with time zone': 'timestamp',
        'timestamp': 'timestamp_ntz', 'timestamp without time zone': 'timestamp_ntz',
        'json': 'string', 'jsonb': 'string', 'text[]': 'array<string>',
        'numeric': 'decimal(38, 18)', 'decimal': 'decimal(38, 18)'
    } -%}
    {%- if name in simple -%}
        {{ return(simple[name]) }}
    {%- elif name.startswith('numeric(') or name.startswith('decimal(') -%}
        {{ return('decimal' ~ name[name.index('('):]) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("sql_type: no Spark type for the PostgreSQL type '" ~ pg_type ~ "'") }}
    {%- endif -%}
{%- endmacro %}

{# Shorthands of the two commonest: sql_type('text') and sql_type('double precision'). #}
{% macro type_text() -%}
    {{ return(sql_type('text')) }}
{%- endmacro %}

{% macro type_double() -%}
    {{ return(sql_type('double precision')) }}
{%- endmacro %}

{#
    Spark's contract check casts null to each contract column's data_type (written in
    PostgreSQL's types in the YAML): translate them first, then dbt's own check.
#}
{% macro spark__get_empty_schema_sql(columns) -%}
    {%- set translated = {} -%}
    {%- for key in columns -%}
        {%- set column = columns[key] -%}
        {%- set copy = {} -%}
        {%- do copy.update(column) -%}
        {%- if column.get('data_type') -%}
            {%- do copy.update({'data_type': sql_type(column['data_type'])}) -%}
        {%- endif -%}
        {%- do translated.update({key: copy}) -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(translated)) }}
{%- endmacro %}

{# `collate "C"` on PostgreSQL (byte order: cheaper sorts and hashes of text keys); nothing on
   Spark, whose strings already compare by bytes (UTF8_BINARY). #}
{% macro collate_c() -%}
    {{ return(adapter.dispatch('collate_c')()) }}
{%- endmacro %}

{% macro default__collate_c() -%}
    {{ return('collate "C"') }}
{%- endmacro %}

{% macro spark__collate_c() -%}
    {{ return('') }}
{%- endmacro %}

{#
    Every match of a POSIX-style regular expression replaced; back-references written \1.
    PostgreSQL: regexp_replace(…, 'g'). Spark: its regexp_replace replaces every match already,
    and a fourth argument there is a start position (so 'g' gives NULL, silently); Java regexes
    write back-references $1, and Spark string literals need the backslashes doubled.
    The pattern and replacement are given as Jinja strings ('\\1' for \1).
#}
{% macro regexp_replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{% macro spark__regexp_replace_all(expression, pattern, replacement) -%}
    {%- set java_replacement = modules.re.sub('\\\\([0-9])', '$\\1', replacement) -%}
    regexp_replace({{ expression }}, {{ spark_string_literal(pattern) }}, {{ spark_string_literal(java_replacement) }})
{%- endmacro %}

{# True when the expression matches the regular expression (PostgreSQL `~`, Spark `rlike`). #}
{% macro regexp_matches(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_matches')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_matches(expression, pattern) -%}
    {{ expression }} ~ '{{ pattern }}'
{%- endmacro %}

{% macro spark__regexp_matches(expression, pattern) -%}
    {{ expression }} rlike {{ spark_string_literal(pattern) }}
{%- endmacro %}

{# A Spark SQL string literal of a raw string: backslashes and quotes escaped (Spark unescapes
   string literals, PostgreSQL does not). #}
{% macro spark_string_literal(value) -%}
    '{{ value | replace('\\', '\\\\') | replace("'", "\\'") }}'
{%- endmacro %}

{#
    The value of the first row in the order `keys` (a list of "expression [asc|desc]"), among
    the rows `where` keeps (all when none): an aggregate. PostgreSQL:
    (array_agg(value order by keys) filter (where …))[1]. Spark: min_by(value, struct(keys))
    filter (where …), a descending key negated (so descending keys must be numbers). Ties on
    every key give either value on either engine: the keys must order the rows fully.
#}
{% macro first_by(value, keys, where=none) -%}
    {{ return(adapter.dispatch('first_by')(value, keys, where)) }}
{%- endmacro %}

{% macro default__first_by(value, keys, where) -%}
    (array_agg({{ value }} order by {{ keys | join(', ') }})
        {%- if where %} filter (where {{ where }}){% endif %})[1]
{%- endmacro %}

{#
    Spark: the expressions of `keys` (each "expression [asc|desc]") whose ascending order is
    the keys' order: "asc" dropped, a descending key negated (so it must be a number).
#}
{% macro spark_ascending_keys(keys) -%}
    {%- set parts = [] -%}
    {%- for key in keys -%}
        {%- set words = key | trim -%}
        {%- if (words | lower).endswith(' desc') -%}
            {%- do parts.append('-(' ~ words[:-5] ~ ')') -%}
        {%- elif (words | lower).endswith(' asc') -%}
            {%- do parts.append(words[:-4]) -%}
        {%- else -%}
            {%- do parts.append(words) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(parts) }}
{%- endmacro %}

{% macro spark__first_by(value, keys, where) -%}
    min_by({{ value }}, struct({{ spark_ascending_keys(keys) | join(', ') }}))
        {%- if where %} filter (where {{ where }}){% endif %}
{%- endmacro %}

{#
    A FROM item of one column `column`: the integers (or, with step="day", the dates) from
    `start` to `stop`, both included. PostgreSQL: generate_series. Spark: explode(sequence(…)).
#}
{% macro series(start, stop, alias, column, step=none) -%}
    {{ return(adapter.dispatch('series')(start, stop, alias, column, step)) }}
{%- endmacro %}

{% macro default__series(start, stop, alias, column, step) -%}
    generate_series({{ start }}, {{ stop }}{% if step == 'day' %}, interval '1 day'{% endif %}) as {{ alias }} ({{ column }})
{%- endmacro %}

{% macro spark__series(start, stop, alias, column, step) -%}
    explode(sequence({{ start }}, {{ stop }}{% if step == 'day' %}, interval 1 day{% endif %})) as {{ alias }} ({{ column }})
{%- endmacro %}

{#
    JSON. PostgreSQL keeps json/jsonb values and their operators; Spark keeps JSON as text
    (sql_type('jsonb') is string there) and reads it with get_json_object / from_json. The
    values are the same; the text of a JSON value may differ in white space between engines
    (the equality test compares JSON parsed).
#}

{# The text at a path (a list of object keys and array indexes), like PostgreSQL's
   `a -> 'k' ->> 0`; as_json=true gives the JSON value there (`->` last). #}
{% macro json_get(expression, path, as_json=false) -%}
    {{ return(adapter.dispatch('json_get')(expression, path, as_json)) }}
{%- endmacro %}

{% macro default__json_get(expression, path, as_json) -%}
    {%- set steps = [] -%}
    {%- for step in path -%}
        {%- set op = '->' if (as_json or not loop.last) else '->>' -%}
        {%- do steps.append(op ~ ' ' ~ (step if step is number else "'" ~ step ~ "'")) -%}
    {%- endfor -%}
    ({{ expression }} {{ steps | join(' ') }})
{%- endmacro %}

{% macro spark__json_get(expression, path, as_json) -%}
    {%- set json_path = ['$'] -%}
    {%- for step in path -%}
        {%- do json_path.append('[' ~ step ~ ']' if step is number else '.' ~ step) -%}
    {%- endfor -%}
    get_json_object({{ expression }}, '{{ json_path | join('') }}')
{%- endmacro %}

{# A lateral FROM item: one row per element of a JSON array of strings, as `alias (column)`. #}
{% macro json_array_elements_text(expression, alias, column) -%}
    {{ return(adapter.dispatch('json_array_elements_text')(expression, alias, column)) }}
{%- endmacro %}

{% macro default__json_array_elements_text(expression, alias, column) -%}
    cross join lateral jsonb_array_elements_text({{ expression }}) as {{ alias }} ({{ column }})
{%- endmacro %}

{% macro spark__json_array_elements_text(expression, alias, column) -%}
    lateral view explode(from_json({{ expression }}, 'array<string>')) {{ alias }} as {{ column }}
{%- endmacro %}

{# An aggregate: the JSON object {key: value, …} of the group, keys in order. #}
{% macro json_object_agg(key, value) -%}
    {{ return(adapter.dispatch('json_object_agg')(key, value)) }}
{%- endmacro %}

{% macro default__json_object_agg(key, value) -%}
    jsonb_object_agg({{ key }}, {{ value }} order by {{ key }})
{%- endmacro %}

{% macro spark__json_object_agg(key, value) -%}
    to_json(map_from_entries(array_sort(collect_list(struct({{ key }}, {{ value }})))))
{%- endmacro %}

{# The JSON array of the given text expressions that are not null, in order. #}
{% macro json_array_of_texts(expressions) -%}
    {{ return(adapter.dispatch('json_array_of_texts')(expressions)) }}
{%- endmacro %}

{% macro default__json_array_of_texts(expressions) -%}
    to_json(array_remove(array[{{ expressions | join(', ') }}]::text[], null))
{%- endmacro %}

{% macro spark__json_array_of_texts(expressions) -%}
    to_json(filter(array({{ expressions | join(', ') }}), value -> value is not null))
{%- endmacro %}

{# Seconds from one timestamp to another, a double. #}
{% macro seconds_between(start, stop) -%}
    {{ return(adapter.dispatch('seconds_between')(start, stop)) }}
{%- endmacro %}

{% macro default__seconds_between(start, stop) -%}
    extract(epoch from {{ stop }} - {{ start }})
{%- endmacro %}

{% macro spark__seconds_between(start, stop) -%}
    ((unix_micros({{ stop }}) - unix_micros({{ start }})) / 1000000.0)
{%- endmacro %}

{#
    Statements PostgreSQL needs around a model and Spark has no use for: the per-model
    work_mem (pre-hook) and `analyze` of a fresh table (post-hook, dbt_project.yml), the
    indexes some marts add. Empty on Spark.
#}
{% macro postgres_only(statement) -%}
    {{ return(statement if target.type == 'postgres' else '') }}
{%- endmacro %}

{# A lateral FROM item: one row (key, value as text) per member of a JSON object. #}
{% macro json_each_text(expression, alias, key_column, value_column) -%}
    {{ return(adapter.dispatch('json_each_text')(expression, alias, key_column, value_column)) }}
{%- endmacro %}

{% macro default__json_each_text(expression, alias, key_column, value_column) -%}
    cross join lateral jsonb_each_text({{ expression }}) as {{ alias }} ({{ key_column }}, {{ value_column }})
{%- endmacro %}

{% macro spark__json_each_text(expression, alias, key_column, value_column) -%}
    lateral view explode(from_json({{ expression }}, 'map<string, string>')) {{ alias }} as {{ key_column }}, {{ value_column }}
{%- endmacro %}

{# An aggregate: the texts of the group joined by `separator`, in the order `keys` (as in
   first_by: descending keys must be numbers on Spark). #}
{% macro string_agg_ordered(expression, separator, keys) -%}
    {{ return(adapter.dispatch('string_agg_ordered')(expression, separator, keys)) }}
{%- endmacro %}

{% macro default__string_agg_ordered(expression, separator, keys) -%}
    string_agg(
        {{ expression }},
        {{ separator }}
        order by {{ keys | join(', ') }}
    )
{%- endmacro %}

{% macro spark__string_agg_ordered(expression, separator, keys) -%}
    {%- set fields = [] -%}
    {%- for part in spark_ascending_keys(keys) -%}
        {%- do fields.append("'k" ~ loop.index ~ "', " ~ part) -%}
    {%- endfor -%}
    array_join(
        transform(
            array_sort(collect_list(named_struct({{ fields | join(', ') }}, 'value', {{ expression }}))),
            item -> item.value
        ),
        {{ separator }}
    )
{%- endmacro %}

{#
    dbt-spark's seed loader, with the values written as SQL literals. Its session method formats
    each binding as '<value>', so an empty CSV cell (None) lands as the text 'None' and a quote
    breaks the statement; here an empty cell is null, as on PostgreSQL.
#}
{% macro spark__load_csv_rows(model, agate_table) %}
  {%- set column_override = model['config'].get('column_types', {}) -%}
  {%- set statements = [] -%}
  {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
      {%- set sql -%}
          insert into {{ this.render() }} values
          {% for row in chunk -%}
              ({%- for col_name in agate_table.column_names -%}
                  {%- set type = column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) -%}
                  {%- set value = row[loop.index0] -%}
                  cast({{ 'null' if value is none else spark_string_literal(value | string) }} as {{ type }})
                  {%- if not loop.last %}, {% endif -%}
              {%- endfor -%})
              {%- if not loop.last %},{% endif %}
          {% endfor %}
      {%- endset -%}
      {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
      {%- if loop.first -%}{%- do statements.append(sql) -%}{%- endif -%}
  {%- endfor -%}
  {{ return(statements[0]) }}
{% endmacro %}

{# A cast on Spark only: for a column whose PostgreSQL type is looser than its contract's (an
   unconstrained numeric passes a numeric(18, 4) contract on PostgreSQL; Spark compares precision
   and scale). Unchanged on PostgreSQL. #}
{% macro spark_cast(expression, pg_type) -%}
    {{ return(adapter.dispatch('spark_cast')(expression, pg_type)) }}
{%- endmacro %}

{% macro default__spark_cast(expression, pg_type) -%}
    {{ expression }}
{%- endmacro %}

{% macro spark__spark_cast(expression, pg_type) -%}
    cast({{ expression }} as {{ sql_type(pg_type) }})
{%- endmacro %}
