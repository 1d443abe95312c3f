{# The model has no rows (used with severity warn to surface work for the analysts). #}
{% test is_empty(model) %}

select * from {{ model }}

{% endtest %}
