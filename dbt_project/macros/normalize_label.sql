{#
    The one definition of a normalised product label, used for catalogue labels, curated
    aliases and sales labels alike, so that "Château Margaux 2015 75cl" and
    "CHATEAU  MARGAUX - 0,75L" meet on "chateau margaux".

    In order: lower case; accents folded (translate, so that no extension is needed);
    volume suffixes removed (75cl, 0,75L, 1.5 L, 750 ml, 3 litres); vintage years removed
    (a lone 19xx or 20xx); every other punctuation mark becomes a space; white space
    collapsed and trimmed. An empty result is null.
#}
{% macro normalize_label(label) -%}
    {%- set folded -%}
        translate(
            lower({{ label }}),
            'àáâãäåāçćčèéêëēėęìíîïīñńòóôõöøōœùúûüūýÿžšßæ',
            'aaaaaaaccceeeeeeeiiiiinnoooooooouuuuuyyzssa'
        )
    {%- endset -%}
    {%- set no_volume = regexp_replace_all(
        folded,
        '(^|[^a-z0-9])[0-9]+([.,][0-9]+)?\\s*(cl|ml|l|ltr|litres?|liters?)(?![a-z0-9])',
        '\\1 '
    ) -%}
    {%- set no_vintage = regexp_replace_all(no_volume, '(^|[^a-z0-9])(19|20)[0-9]{2}(?![a-z0-9])', '\\1 ') -%}
    {%- set spaced = regexp_replace_all(no_vintage, '[^a-z0-9]+', ' ') -%}
    nullif(
        btrim(
            {{ regexp_replace_all(spaced, '\\s+', ' ') }}
        ),
        ''
    )
{%- endmacro %}
