{#
    The date the warehouse is computed as of. Set it with the environment variable
    RECO_AS_OF_DATE=2011-09-01 (backtests do: dbt's partial parsing survives a change of an
    environment variable, re-parsing only int_as_of_date, whereas any change of --vars makes
    dbt parse the whole project again) or with --vars '{as_of_date: 2011-09-01}'; the
    environment variable wins when both are set. Unset, it is the latest order date in the sales lines — the data's own
    "today", so that a static export (Online Retail II ends 2011-12-09) is not scored as if
    every customer had lapsed — or current_date when no sales are loaded.
    The value is computed once, in the model int_as_of_date, and read everywhere from there.
#}
{% macro as_of_date() -%}
    (select as_of_date from {{ ref('int_as_of_date') }})
{%- endmacro %}

{% macro as_of_date_literal() -%}
    {%- set value = env_var('RECO_AS_OF_DATE', '') | trim or var('as_of_date', none) -%}
    {%- if value is none or value | string | trim in ('', 'none', 'None', 'null') -%}
        null::date
    {%- else -%}
        '{{ value | string | trim }}'::date
    {%- endif -%}
{%- endmacro %}
