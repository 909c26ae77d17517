// CRUD through node-postgres (`pg`): parameterised queries use the extended protocol.
//
// Usage: node node_pg_crud.js postgresql://root@127.0.0.1:26257/defaultdb?sslmode=disable
// Exits 0 and prints "node-postgres: ok" when every assertion holds.
'use strict';
const assert = require('node:assert/strict');
const { Client } = require('pg');

async function main(url) {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('DROP TABLE IF EXISTS node_items');
    await client.query(
      'CREATE TABLE node_items (id INT PRIMARY KEY, name TEXT NOT NULL, qty INT, price DECIMAL(10,2))');
    for (const [id, name, qty, price] of [[1, 'apple', 10, '1.25'], [2, 'banana', 20, '0.50'], [3, 'cherry', 30, null]]) {
      const r = await client.query('INSERT INTO node_items VALUES ($1, $2, $3, $4)', [id, name, qty, price]);
      assert.equal(r.rowCount, 1);
    }
    let r = await client.query('SELECT id, name, qty, price FROM node_items ORDER BY id');
    assert.deepEqual(r.rows, [
      { id: 1, name: 'apple', qty: 10, price: '1.25' },
      { id: 2, name: 'banana', qty: 20, price: '0.50' },
      { id: 3, name: 'cherry', qty: 30, price: null },
    ]);
    // A named prepared statement, executed twice.
    for (const [id, name] of [[1, 'apple'], [3, 'cherry']]) {
      r = await client.query({ name: 'by-id', text: 'SELECT name FROM node_items WHERE id = $1', values: [id] });
      assert.equal(r.rows[0].name, name);
    }
    r = await client.query('UPDATE node_items SET qty = qty + $1 WHERE id <> $2', [1, 2]);
    assert.equal(r.rowCount, 2);
    r = await client.query('SELECT sum(qty) AS total FROM node_items');
    assert.equal(Number(r.rows[0].total), 62);
    r = await client.query('DELETE FROM node_items WHERE name = $1', ['banana']);
    assert.equal(r.rowCount, 1);
    await assert.rejects(
      client.query('INSERT INTO node_items (id, name) VALUES ($1, $2)', [1, 'dup']),
      (e) => e.code === '23505');
    r = await client.query('SELECT count(*)::INT AS n FROM node_items');
    assert.equal(r.rows[0].n, 2);
    await client.query('DROP TABLE node_items');
  } finally {
    await client.end();
  }
  console.log('node-postgres: ok');
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exit(1);
});
