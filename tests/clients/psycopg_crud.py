"""CRUD through psycopg 3 with server-side parameters (extended protocol: Parse/Bind/Execute).

Usage: python3 psycopg_crud.py postgresql://root@127.0.0.1:26257/defaultdb?sslmode=disable
Exits 0 and prints "psycopg: ok" when every assertion holds.
"""
import datetime
import decimal
import sys

import psycopg


def main(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS psycopg_items")
        cur.execute(
            "CREATE TABLE psycopg_items ("
            " id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, price DECIMAL(10,2),"
            " qty BIGINT, ok BOOL, added DATE, note TEXT)"
        )
        rows = [
            (1, "apple", decimal.Decimal("1.25"), 10, True, datetime.date(2025, 1, 2), None),
            (2, "banana", decimal.Decimal("0.50"), 20, False, datetime.date(2025, 2, 3), "ripe"),
            (3, "cherry", decimal.Decimal("7.00"), 30, True, datetime.date(2025, 3, 4), "o'clock"),
        ]
        cur.executemany(
            "INSERT INTO psycopg_items (id, name, price, qty, ok, added, note)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        cur.execute("SELECT id, name, price, qty, ok, added, note FROM psycopg_items ORDER BY id")
        got = cur.fetchall()
        assert got == rows, got

        # Server-side parameters with explicit prepare, reused.
        for i, name in [(1, "apple"), (3, "cherry")]:
            cur.execute("SELECT name FROM psycopg_items WHERE id = %s", (i,), prepare=True)
            assert cur.fetchone() == (name,)

        cur.execute("UPDATE psycopg_items SET qty = qty + %s WHERE price < %s", (5, decimal.Decimal("2")))
        assert cur.rowcount == 2, cur.rowcount
        cur.execute("SELECT sum(qty) FROM psycopg_items")
        assert cur.fetchone()[0] == 70

        cur.execute("DELETE FROM psycopg_items WHERE name = %s", ("banana",))
        assert cur.rowcount == 1
        cur.execute("SELECT count(*) FROM psycopg_items")
        assert cur.fetchone()[0] == 2

        # Binary results for the same types.
        with conn.cursor(binary=True) as bcur:
            bcur.execute("SELECT id, price, added FROM psycopg_items WHERE id = %s", (3,))
            assert bcur.fetchone() == (3, decimal.Decimal("7.00"), datetime.date(2025, 3, 4))

        # Errors carry SQLSTATEs and leave the connection usable.
        try:
            cur.execute("INSERT INTO psycopg_items (id, name) VALUES (%s, %s)", (1, "dup"))
            raise AssertionError("duplicate key accepted")
        except psycopg.errors.UniqueViolation:
            pass
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)

        # An explicit transaction rolled back leaves no trace.
        conn.autocommit = False
        cur.execute("INSERT INTO psycopg_items (id, name) VALUES (%s, %s)", (9, "ghost"))
        conn.rollback()
        conn.autocommit = True
        cur.execute("SELECT count(*) FROM psycopg_items WHERE id = %s", (9,))
        assert cur.fetchone()[0] == 0
        cur.execute("DROP TABLE psycopg_items")
    print("psycopg: ok")


if __name__ == "__main__":
    main(sys.argv[1])
