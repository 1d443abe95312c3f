{#
    A normalised e-mail address: trimmed and lower-cased; null when empty or when it does
    not look like one address (something@domain.tld, no spaces). Provider-specific rewrites
    (gmail dots, plus-addressing) are deliberately not applied: they merge different people.
#}
{% macro normalize_email(email) -%}
    case
        when {{ regexp_matches('lower(btrim(' ~ email ~ '))', '^[^@\\s]+@[^@\\s]+\\.[^@\\s.]+$') }}
            then lower(btrim({{ email }}))
    end
{%- endmacro %}
