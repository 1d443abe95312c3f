{# The given share columns of a row add up to at most 1 (with a rounding tolerance). #}
{% test shares_sum_at_most_one(model, columns) %}

select *
from {{ model }}
where
    {% for col in columns %}coalesce({{ col }}, 0){{ ' + ' if not loop.last }}{% endfor %}
    > 1.000001

{% endtest %}
