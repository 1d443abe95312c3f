{#
    Schemas are named after the layer (staging, intermediate, marts, lookups), not
    "<target>_<layer>", so analysts find "marts.customer". A backtest sets the var
    schema_prefix to rebuild the same layers beside the live ones ("bt_x_marts").
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set base = custom_schema_name if custom_schema_name is not none else target.schema -%}
    {{ var('schema_prefix', '') ~ base | trim }}
{%- endmacro %}
