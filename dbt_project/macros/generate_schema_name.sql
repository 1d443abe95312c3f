{#
    Schemas are named after the layer (staging, intermediate, marts, lookups), not
    "<target>_<layer>", so analysts find "marts.customer". A backtest sets a prefix to rebuild
    the same layers beside the live ones ("bt_x_marts"): see schema_prefix().
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set base = custom_schema_name if custom_schema_name is not none else target.schema -%}
    {{ schema_prefix() ~ base | trim }}
{%- endmacro %}

{#
    The environment variable RECO_SCHEMA_PREFIX (what `reco backtest` sets), else the var
    schema_prefix, else none. Every node's schema depends on it, so whenever it changes dbt
    parses the whole project again, however it is given (an environment variable read by
    generate_schema_name makes partial parsing start over, as a change of --vars does).
    RECO_AS_OF_DATE, in contrast, only makes dbt re-parse int_as_of_date.
#}
{% macro schema_prefix() -%}
    {{ return(env_var('RECO_SCHEMA_PREFIX', '') | trim or var('schema_prefix', '')) }}
{%- endmacro %}
