{#
    Every non-null value lies between min_value and max_value (both optional, inclusive
    unless inclusive=false). Fails with the offending rows.
#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}

with checked as (

    select {{ column_name }} as value
    from {{ model }}
    where {{ column_name }} is not null

)

select *
from checked
where
    false
    {%- if min_value is not none %}
    or value {{ '<' if inclusive else '<=' }} {{ min_value }}
    {%- endif %}
    {%- if max_value is not none %}
    or value {{ '>' if inclusive else '>=' }} {{ max_value }}
    {%- endif %}

{% endtest %}
