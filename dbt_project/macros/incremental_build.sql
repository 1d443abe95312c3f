{#
    The nightly incremental build (reco/dbt/incremental.py, docs/warehouse.md "Incremental
    builds"). `reco dbt build` sets RECO_INCREMENTAL=order_line when appending the new lines
    gives the same marts as a cold build, and RECO_INCREMENTAL_AFTER_ID to the largest
    order_line id of the last successful build: the lines above it are the new ones. Any other
    build (plain dbt, a backtest, Spark) sets neither, and every model below is rebuilt in full.
#}

{# True on reco's incremental path (RECO_INCREMENTAL=order_line), false on any other build. #}
{% macro on_incremental_path() -%}
    {{ return(env_var('RECO_INCREMENTAL', '') == 'order_line') }}
{%- endmacro %}

{# The largest order_line id of the last successful build (an integer, as SQL text). #}
{% macro new_lines_after_id() -%}
    {%- set value = env_var('RECO_INCREMENTAL_AFTER_ID', '') | trim -%}
    {%- if not value.isdigit() -%}
        {{ exceptions.raise_compiler_error(
            "an incremental build needs RECO_INCREMENTAL_AFTER_ID (the watermark reco dbt build sets), got '"
            ~ value ~ "'"
        ) }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{#
    A data-test `where` that restricts a line-level test to the new lines on the incremental
    path (`column` above the watermark), and not at all on any other build: the earlier lines
    were tested by the build that made them and are checked unchanged (count and sum of ids)
    before reco appends. Ids grow with every load, so a new id cannot collide with an old one.
#}
{% macro new_lines_only(column) -%}
    {%- if on_incremental_path() -%}
        {{ column }} > {{ new_lines_after_id() }}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{#
    The master customers an incremental build recomputes (a query of customer_code):
    - 'lines': those with a line above the watermark (the day's new lines);
    - 'profiles': those, and the buyers of a product whose profile attributes (family, grape,
      sugar level, price band, aromas) changed in this build (int_product_profile_attributes).
#}
{% macro customers_to_rebuild(kind) -%}
    select new_lines.customer_code
    from {{ ref('order_line') }} as new_lines
    where new_lines.id > {{ new_lines_after_id() }}
    {%- if kind == 'profiles' %}
    union
    select purchases.customer_code
    from {{ ref('int_customer_product_purchases') }} as purchases
    inner join {{ ref('int_product_profile_attributes') }} as changed
        on purchases.product_key = changed.product_key
    where changed.build_id = '{{ invocation_id }}'
    {%- elif kind != 'lines' %}
        {{ exceptions.raise_compiler_error("customers_to_rebuild: 'lines' or 'profiles', got " ~ kind) }}
    {%- endif %}
{%- endmacro %}

{#
    Pre-hook of the customer-grain incremental models (PostgreSQL; never incremental on Spark):
    on the incremental path, delete the rows of the customers the model then recomputes in
    full (from all their lines), in the same transaction as the insert. Deleting first, rather
    than a delete+insert on the new rows' keys, also drops a row that no longer has a reason to
    exist (a product whose attributes were blanked).
#}
{% macro delete_customers_to_rebuild(kind) -%}
    {%- if is_incremental() and target.type == 'postgres' -%}
        delete from {{ this }} where customer_code in ({{ customers_to_rebuild(kind) }})
    {%- endif -%}
{%- endmacro %}
