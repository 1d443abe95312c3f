"""Regenerate the bad-file corpus (bytes exactly as committed): python make_corpus.py

Every file's expected outcome is in expected.toml (checked by tests/ingest/test_corpus.py) and
explained in README.md.
"""

from pathlib import Path

HERE = Path(__file__).parent
SALES = "doc_ref,order_date,customer_code,product_key,product_label,quantity,unit_price\n"


def write(name: str, data: bytes | str, encoding: str = "utf-8") -> None:
    (HERE / name).write_bytes(data if isinstance(data, bytes) else data.encode(encoding))


def main() -> None:
    write(
        "utf8_comma.csv",
        SALES + "F1,2024-03-01,C1,P1,Chablis 2019,2,12.50\n"
        "F1,2024-03-01,C1,P2,Crémant d'Alsace,1,9.90\n"
        "F2,2024-03-02 10:15:00,C2,P1,Chablis 2019,-1,12.50\n",
    )
    write(
        "utf8_bom_semicolon.csv",
        "\ufeff"
        + SALES.replace(",", ";")
        + "F10;01/03/2024;C1;P1;Château Margaux 2015;1;450,00\r\n"
        "F10;01/03/2024;C1;P3;Rosé de Provence;6;8,5\r\n",
    )
    write(
        "cp1252_semicolon.csv",
        "customer_code;email;first_name;last_name;country;is_optout\n"
        "C1;anne@example.fr;Anne;Lefèvre;France;non\n"
        "C2;;Zoé;Cœur;France;oui\n"
        "C3;paul@example.fr;Paul;Dupré — 5€;Belgique;0\n",
        encoding="cp1252",
    )
    write(
        "latin1_pipe.csv",
        "customer_code|email|first_name|last_name|country\nC4|a@b.fr|Hélène|Müller|Suisse\n",
        encoding="latin-1",
    )
    write(
        "tab_delimited.tsv",
        SALES.replace(",", "\t") + "F20\t2024-04-01\tC5\tP9\tGewurztraminer\t3\t15.2\n",
    )
    write(
        "quoted_multiline.csv",
        SALES + 'F30,2024-05-01,C6,P4,"Coffret ""Fête"", 3 bouteilles\nrouge, blanc",1,"1,234.50"\n'
        'F30,2024-05-01,C6,P5,"Vin ""nature""",2,10\n',
    )
    write(
        "ragged_rows.csv",
        SALES + "F40,2024-06-01,C7,P1,Chablis,1,12.5\n"
        "F40,2024-06-01,C7,P2,Too many,1,12.5,extra\n"
        "F41,2024-06-02,C7,P3\n"
        "F42,2024-06-03,C8,P1,Chablis,1,12.5\n",
    )
    write(
        "bad_dates.csv",
        SALES + "F50,31/02/2023,C1,P1,Chablis,1,12.5\n"
        "F51,yesterday,C1,P1,Chablis,1,12.5\n"
        "F52,01/01/1850,C1,P1,Chablis,1,12.5\n"
        "F53,15/03/2023,C1,P1,Chablis,1,12.5\n",
    )
    write(
        "bad_numbers.csv",
        SALES + "F60,2024-01-01,C1,P1,Chablis,abc,12.5\n"
        "F61,2024-01-01,C1,P1,Chablis,1,12.5.3\n"
        "F62,2024-01-01,C1,P1,Chablis,0,12.5\n"
        "F63,2024-01-01,C1,P1,Chablis,1,-4\n"
        "F64,2024-01-01,,,,1,\n"
        "F65,2024-01-01,C1,P1,Chablis,2,12.5\n",
    )
    write("empty.csv", b"")
    write("header_only.csv", SALES)
    write(
        "unknown_header.csv", SALES.replace("\n", ",Colour\n") + "F1,2024-01-01,C1,P1,x,1,1,red\n"
    )
    write("missing_column.csv", SALES.replace(",customer_code", "") + "F1,2024-01-01,P1,x,1,1\n")
    write(
        "unterminated_quote.csv",
        SALES + 'F1,2024-01-01,C1,P1,"never closed,1,1\nF2,2024-01-01,C1,P1,x,1,1\n',
    )
    write("binary.csv", b"\x00\x01\x02PK\x00\x00 not a csv \x00")
    write(
        "huge_field.csv",
        SALES
        + f"F70,2024-01-01,C1,P1,{'A' * 200_000},1,12.5\nF71,2024-01-01,C1,P1,Chablis,1,12.5\n",
    )
    write(
        "injection.csv",
        SALES + 'F80,2024-01-01,C1,P1,"Robert\'); DROP TABLE raw.sales_line;--",1,12.5\n'
        'F80,2024-01-01,C1,P2,"=HYPERLINK(""http://evil.example"",""click"")",1,12.5\n'
        "F80,2024-01-01,C1,P3,+cmd|' /C calc'!A0,1,12.5\n"
        "F80,2024-01-01,C1,P4,@SUM(1+1),1,12.5\n"
        "F80,2024-01-01,C1,P5,-2+3,1,12.5\n",
    )
    write(
        "duplicate_lines.csv",
        SALES + "F90,2024-01-01,C1,P1,Chablis,1,12.5\n"
        "F90,2024-01-01,C1,P1,Chablis,1,12.5\n"
        "F91,2024-01-01,C1,P1,Chablis,1,12.5\n",
    )
    write(
        "duplicate_customers.csv",
        "customer_code,email\nC1,a@example.fr\nC1,a@example.fr\nC1,new@example.fr\n",
    )


if __name__ == "__main__":
    main()
