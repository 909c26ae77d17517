//! The nine TPC-C tables (clause 1.3) and the two secondary indexes the transactions use:
//! customers by last name (Payment and Order-Status by name) and orders by customer (Order-Status).
//!
//! The DDL is plain SQL both PostgreSQL and Meridian accept: no `DESC` in primary keys (PostgreSQL
//! rejects it in a constraint), no CockroachDB `INDEX` clauses inside `CREATE TABLE`, no foreign
//! keys (Meridian has none yet; TPC-C does not need them to run). `history` has no primary key in
//! the spec: PostgreSQL stores it as a heap, Meridian gives it a hidden `rowid`.
//!
//! With `--regions` ([`create_statements`]) the warehouse-keyed tables (all but `item`) are
//! REGIONAL BY ROW: Meridian has no computed columns, so instead of CockroachDB's
//! `crdb_region ... AS (CASE WHEN w_id BETWEEN ... END) STORED` the hidden region column keeps its
//! default and every INSERT names it with the warehouse's region.

/// The tables in load order (the order does not matter without foreign keys).
pub const TABLES: [&str; 9] = [
    "warehouse",
    "district",
    "customer",
    "history",
    "\"order\"",
    "new_order",
    "order_line",
    "item",
    "stock",
];

/// CREATE statements, one per element.
pub const CREATE: [&str; 11] = [
    "CREATE TABLE warehouse (
        w_id INT NOT NULL, w_name VARCHAR(10), w_street_1 VARCHAR(20), w_street_2 VARCHAR(20),
        w_city VARCHAR(20), w_state CHAR(2), w_zip CHAR(9), w_tax DECIMAL(4,4),
        w_ytd DECIMAL(12,2),
        PRIMARY KEY (w_id))",
    "CREATE TABLE district (
        d_id INT NOT NULL, d_w_id INT NOT NULL, d_name VARCHAR(10), d_street_1 VARCHAR(20),
        d_street_2 VARCHAR(20), d_city VARCHAR(20), d_state CHAR(2), d_zip CHAR(9),
        d_tax DECIMAL(4,4), d_ytd DECIMAL(12,2), d_next_o_id INT,
        PRIMARY KEY (d_w_id, d_id))",
    "CREATE TABLE customer (
        c_id INT NOT NULL, c_d_id INT NOT NULL, c_w_id INT NOT NULL, c_first VARCHAR(16),
        c_middle CHAR(2), c_last VARCHAR(16), c_street_1 VARCHAR(20), c_street_2 VARCHAR(20),
        c_city VARCHAR(20), c_state CHAR(2), c_zip CHAR(9), c_phone CHAR(16), c_since TIMESTAMP,
        c_credit CHAR(2), c_credit_lim DECIMAL(12,2), c_discount DECIMAL(4,4),
        c_balance DECIMAL(12,2), c_ytd_payment DECIMAL(12,2), c_payment_cnt INT,
        c_delivery_cnt INT, c_data VARCHAR(500),
        PRIMARY KEY (c_w_id, c_d_id, c_id))",
    "CREATE INDEX customer_idx ON customer (c_w_id, c_d_id, c_last, c_first)",
    "CREATE TABLE history (
        h_c_id INT, h_c_d_id INT, h_c_w_id INT, h_d_id INT, h_w_id INT, h_date TIMESTAMP,
        h_amount DECIMAL(6,2), h_data VARCHAR(24))",
    "CREATE TABLE \"order\" (
        o_id INT NOT NULL, o_d_id INT NOT NULL, o_w_id INT NOT NULL, o_c_id INT,
        o_entry_d TIMESTAMP, o_carrier_id INT, o_ol_cnt INT, o_all_local INT,
        PRIMARY KEY (o_w_id, o_d_id, o_id))",
    "CREATE UNIQUE INDEX order_idx ON \"order\" (o_w_id, o_d_id, o_c_id, o_id)",
    "CREATE TABLE new_order (
        no_o_id INT NOT NULL, no_d_id INT NOT NULL, no_w_id INT NOT NULL,
        PRIMARY KEY (no_w_id, no_d_id, no_o_id))",
    "CREATE TABLE order_line (
        ol_o_id INT NOT NULL, ol_d_id INT NOT NULL, ol_w_id INT NOT NULL, ol_number INT NOT NULL,
        ol_i_id INT NOT NULL, ol_supply_w_id INT, ol_delivery_d TIMESTAMP, ol_quantity INT,
        ol_amount DECIMAL(6,2), ol_dist_info CHAR(24),
        PRIMARY KEY (ol_w_id, ol_d_id, ol_o_id, ol_number))",
    "CREATE TABLE item (
        i_id INT NOT NULL, i_im_id INT, i_name VARCHAR(24), i_price DECIMAL(5,2),
        i_data VARCHAR(50),
        PRIMARY KEY (i_id))",
    "CREATE TABLE stock (
        s_i_id INT NOT NULL, s_w_id INT NOT NULL, s_quantity INT,
        s_dist_01 CHAR(24), s_dist_02 CHAR(24), s_dist_03 CHAR(24), s_dist_04 CHAR(24),
        s_dist_05 CHAR(24), s_dist_06 CHAR(24), s_dist_07 CHAR(24), s_dist_08 CHAR(24),
        s_dist_09 CHAR(24), s_dist_10 CHAR(24), s_ytd INT, s_order_cnt INT, s_remote_cnt INT,
        s_data VARCHAR(50),
        PRIMARY KEY (s_w_id, s_i_id))",
];

/// The tables whose primary key starts with the warehouse id, with that column.
pub const WAREHOUSE_KEYED: [(&str, &str); 7] = [
    ("warehouse", "w_id"),
    ("district", "d_w_id"),
    ("customer", "c_w_id"),
    ("\"order\"", "o_w_id"),
    ("new_order", "no_w_id"),
    ("order_line", "ol_w_id"),
    ("stock", "s_w_id"),
];

/// Secondary indexes that start with the warehouse id (split like their tables).
pub const WAREHOUSE_KEYED_INDEXES: [&str; 2] = ["customer@customer_idx", "\"order\"@order_idx"];

/// The CREATE statements; with `multi_region`, every table but `item` is `LOCALITY REGIONAL BY
/// ROW` (its hidden `crdb_region` column is set by the loader and the transactions), and `item`
/// is created with the database's default locality and made GLOBAL after the load
/// ([`MAKE_ITEM_GLOBAL`]), so its rows are not written one commit-wait at a time.
pub fn create_statements(multi_region: bool) -> Vec<String> {
    CREATE
        .iter()
        .map(|sql| {
            let table = sql.starts_with("CREATE TABLE") && !sql.starts_with("CREATE TABLE item");
            if multi_region && table {
                format!("{sql} LOCALITY REGIONAL BY ROW")
            } else {
                sql.to_string()
            }
        })
        .collect()
}

/// Makes `item` GLOBAL once loaded (multi-region only).
pub const MAKE_ITEM_GLOBAL: &str = "ALTER TABLE item SET LOCALITY GLOBAL";

/// `DROP TABLE IF EXISTS` for every table (indexes go with them).
pub fn drop_statements() -> Vec<String> {
    TABLES
        .iter()
        .map(|t| format!("DROP TABLE IF EXISTS {t}"))
        .collect()
}

/// Whether a TPC-C table already exists (a cheap probe both servers answer with 42P01 if not).
pub async fn exists(client: &tokio_postgres::Client) -> bool {
    client
        .simple_query("SELECT 1 FROM warehouse LIMIT 1")
        .await
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_region_tables_are_regional_by_row_but_item() {
        let sql = create_statements(true);
        assert_eq!(sql.len(), CREATE.len());
        let rbr: Vec<&String> = sql
            .iter()
            .filter(|s| s.ends_with("LOCALITY REGIONAL BY ROW"))
            .collect();
        assert_eq!(rbr.len(), 8, "every table but item");
        assert!(rbr.iter().all(|s| s.starts_with("CREATE TABLE")));
        assert!(sql
            .iter()
            .any(|s| s.starts_with("CREATE TABLE item") && !s.contains("LOCALITY")));
        assert_eq!(create_statements(false), CREATE.map(str::to_string));
    }
}
