// Runs one SQL statement in an in-memory DuckDB and prints its rows as tab-separated text, NULL
// as \N: how the reader tests (tests/integration/readers_test.cc) read an export as DuckDB users
// do. DuckDB comes from scripts/duckdb/install.sh, whose directory is the first argument.
//
//   node duckdb_query.mjs DUCKDB_DIR 'SELECT ...'
//
// Exits 1 with DuckDB's error on stderr.
const [dir, sql] = process.argv.slice(2);
if (!dir || !sql) {
  console.error('usage: node duckdb_query.mjs DUCKDB_DIR SQL');
  process.exit(2);
}
try {
  const { DuckDBInstance } = await import(`${dir}/node_modules/@duckdb/node-api/lib/index.js`);
  const db = await DuckDBInstance.create(':memory:');
  const connection = await db.connect();
  const reader = await connection.runAndReadAll(sql);
  const lines = reader.getRowsJS().map((row) =>
    row.map((v) => (v === null ? '\\N' : String(v))).join('\t'));
  process.stdout.write(lines.map((l) => l + '\n').join(''));
} catch (e) {
  console.error(`duckdb: ${e.message}`);
  process.exit(1);
}
