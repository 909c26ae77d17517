"""CRUD through asyncpg (extended protocol, binary formats, prepared statements).

Usage: python3 asyncpg_crud.py postgresql://root@127.0.0.1:26257/defaultdb?sslmode=disable
Exits 0 and prints "asyncpg: ok" when every assertion holds.
"""
import asyncio
import datetime
import decimal
import sys

import asyncpg


async def main(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP TABLE IF EXISTS asyncpg_items")
        await conn.execute(
            "CREATE TABLE asyncpg_items ("
            " id INT PRIMARY KEY, name TEXT NOT NULL, price DECIMAL(10,2), qty BIGINT,"
            " seen TIMESTAMP, ratio DOUBLE PRECISION)"
        )
        ts = datetime.datetime(2025, 5, 6, 7, 8, 9)
        rows = [
            (1, "apple", decimal.Decimal("1.25"), 10, ts, 0.5),
            (2, "banana", decimal.Decimal("0.50"), 20, None, 1.5),
            (3, "cherry", decimal.Decimal("7.00"), 30, ts, None),
        ]
        await conn.executemany(
            "INSERT INTO asyncpg_items (id, name, price, qty, seen, ratio) VALUES ($1, $2, $3, $4, $5, $6)",
            rows,
        )
        got = await conn.fetch("SELECT id, name, price, qty, seen, ratio FROM asyncpg_items ORDER BY id")
        assert [tuple(r) for r in got] == rows, got

        stmt = await conn.prepare("SELECT name FROM asyncpg_items WHERE id = $1")
        assert await stmt.fetchval(2) == "banana"
        assert await stmt.fetchval(3) == "cherry"
        assert await stmt.fetchval(99) is None

        status = await conn.execute("UPDATE asyncpg_items SET qty = qty * 2 WHERE id >= $1", 2)
        assert status == "UPDATE 2", status
        assert await conn.fetchval("SELECT sum(qty) FROM asyncpg_items") == 110

        status = await conn.execute("DELETE FROM asyncpg_items WHERE id = $1", 1)
        assert status == "DELETE 1", status
        assert await conn.fetchval("SELECT count(*) FROM asyncpg_items") == 2

        try:
            await conn.execute("INSERT INTO asyncpg_items (id, name) VALUES ($1, $2)", 2, "dup")
            raise AssertionError("duplicate key accepted")
        except asyncpg.exceptions.UniqueViolationError:
            pass

        async with conn.transaction():
            await conn.execute("INSERT INTO asyncpg_items (id, name) VALUES ($1, $2)", 7, "seven")
        assert await conn.fetchval("SELECT name FROM asyncpg_items WHERE id = $1", 7) == "seven"
        await conn.execute("DROP TABLE asyncpg_items")
    finally:
        await conn.close()
    print("asyncpg: ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
