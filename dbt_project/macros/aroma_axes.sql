{#
    The seven aroma axes, in the order of the seed aroma_axes (which is also the tie-break
    order). Models loop over this list to name the aroma_* columns; the seed describes them.
#}
{% macro aroma_axes() -%}
    {{ return(['fruity', 'floral', 'spicy', 'herbal', 'mineral', 'woody', 'toasty']) }}
{%- endmacro %}
