//! Session tests of bounded-staleness reads and `default_transaction_use_follower_reads`
//! on a local store with a manual clock: which snapshot each form reads, and the errors.

use super::as_of::wall_time;
use super::tests::{harness, Harness};
use kv::Timestamp;

/// A table whose row was `old` until `T` and `new` from then on; the clock is at T + 3 s, so
/// follower_read_timestamp() (now - 4.8 s) is before the update. Returns T.
fn updated_three_seconds_ago(h: &mut Harness) -> Timestamp {
    h.q("CREATE TABLE t (k INT PRIMARY KEY, v TEXT)");
    h.q("INSERT INTO t VALUES (1, 'old')");
    h.advance_ms(20_000);
    let t = h.now();
    h.q("UPDATE t SET v = 'new' WHERE k = 1");
    h.advance_ms(3_000);
    t
}

/// A TIMESTAMPTZ literal `ms` after `ts`.
fn literal(ts: Timestamp, ms: i64) -> String {
    let at = wall_time(Timestamp::from_unix_ms(ts.unix_ms() + ms));
    format!("'{}'", at.format("%Y-%m-%d %H:%M:%S%.3f+00"))
}

#[test]
fn max_staleness_reads_at_follower_time_or_at_the_bound() {
    let mut h = harness(0);
    updated_three_seconds_ago(&mut h);
    // 10 s allows follower_read_timestamp(), 4.8 s ago: before the update.
    let q = "SELECT v FROM t AS OF SYSTEM TIME with_max_staleness('10s')";
    assert_eq!(h.q(q), ["old"]);
    assert_eq!(
        h.q("SELECT v FROM t AS OF SYSTEM TIME with_max_staleness(interval '1 minute', true)"),
        ["old"]
    );
    // now() is the time read at: 4.8 s before the session's clock.
    let q = "SELECT now() FROM t AS OF SYSTEM TIME with_max_staleness('10s')";
    let expected = wall_time(Timestamp::from_unix_ms(h.now().unix_ms() - 4_800));
    let expected = expected.format("%Y-%m-%d %H:%M:%S%.3f").to_string();
    // PostgreSQL prints fractional seconds without trailing zeros (`.88`, not `.880`).
    let expected = expected.trim_end_matches('0').trim_end_matches('.');
    assert_eq!(h.q(q), [format!("{expected}+00")]);
    // 2 s is too recent for followers: read at the bound (by the leaseholder), after the update.
    assert_eq!(
        h.q("SELECT v FROM t AS OF SYSTEM TIME with_max_staleness('2s')"),
        ["new"]
    );
    let e = h.err("SELECT v FROM t AS OF SYSTEM TIME with_max_staleness('2s', true)");
    assert_eq!(e.code, "XXUUU");
    assert!(
        e.message
            .starts_with("bounded staleness read with minimum timestamp bound of"),
        "{}",
        e.message
    );
    let e = h.err("SELECT v FROM t AS OF SYSTEM TIME with_max_staleness('-1s')");
    assert_eq!(e.code, "22023");
    assert_eq!(
        h.err("SELECT v FROM t AS OF SYSTEM TIME with_max_staleness(1.5)")
            .code,
        "42883"
    );
    // The statement is read-only; the session is not.
    let e = h.err("SELECT v FROM t AS OF SYSTEM TIME with_max_staleness('10s') FOR UPDATE");
    assert_eq!(e.code, "25006");
    h.q("UPDATE t SET v = 'newer'");
    assert_eq!(h.q("SELECT v FROM t"), ["newer"]);
}

#[test]
fn min_timestamp_reads_at_the_later_of_the_bound_and_follower_time() {
    let mut h = harness(0);
    let t = updated_three_seconds_ago(&mut h);
    let q =
        |bound: String| format!("SELECT v FROM t AS OF SYSTEM TIME with_min_timestamp({bound})");
    // A bound 10 s before the update: follower_read_timestamp() is later, still before it.
    assert_eq!(h.q(&q(literal(t, -10_000))), ["old"]);
    // A bound just after the update forces a fresher read.
    assert_eq!(h.q(&q(literal(t, 1))), ["new"]);
    assert_eq!(h.err(&q(format!("{}, true", literal(t, 1)))).code, "XXUUU");
    let e = h.err(&q(literal(h.now(), 60_000)));
    assert_eq!(e.code, "22023");
    assert_eq!(
        e.message,
        "timestamp for with_min_timestamp must be less than or equal to now()"
    );
}

#[test]
fn bounded_staleness_only_in_implicit_transactions() {
    let mut h = harness(0);
    updated_three_seconds_ago(&mut h);
    h.q("BEGIN");
    let e = h.err("SELECT v FROM t AS OF SYSTEM TIME with_max_staleness('10s')");
    assert_eq!(e.code, "0A000");
    assert_eq!(
        e.message,
        "with_max_staleness can only be used with single-statement read-only implicit transactions"
    );
    h.q("ROLLBACK");
    let e = h.err("BEGIN AS OF SYSTEM TIME with_max_staleness('10s')");
    assert_eq!(e.code, "0A000");
    h.q("BEGIN");
    let e = h.err("SET TRANSACTION AS OF SYSTEM TIME with_min_timestamp(now() - '10s'::interval)");
    assert_eq!(e.code, "0A000");
    assert!(e.message.starts_with("with_min_timestamp"), "{}", e.message);
    h.q("ROLLBACK");
    // As ordinary functions they return the oldest timestamp the bound allows.
    assert_eq!(
        h.q(
            "SELECT with_max_staleness('10s') = now() - interval '10s', \
             with_min_timestamp(now() - interval '1h', false) = now() - interval '1h'"
        ),
        ["t|t"]
    );
}

#[test]
fn follower_reads_setting_applies_to_read_only_transactions() {
    let mut h = harness(0);
    updated_three_seconds_ago(&mut h);
    assert_eq!(h.q("SHOW default_transaction_use_follower_reads"), ["off"]);
    h.q("BEGIN READ ONLY");
    assert_eq!(h.q("SELECT v FROM t"), ["new"]);
    h.q("COMMIT");

    h.q("SET default_transaction_use_follower_reads = on");
    assert_eq!(h.q("SHOW default_transaction_use_follower_reads"), ["on"]);
    assert_eq!(
        h.err("SET default_transaction_use_follower_reads = 'sometimes'")
            .code,
        "22023"
    );
    // Implicit statements of a read-write session are not read-only transactions.
    assert_eq!(h.q("SELECT v FROM t"), ["new"]);
    h.q("BEGIN READ ONLY");
    assert_eq!(h.q("SELECT v FROM t"), ["old"]);
    h.q("COMMIT");
    h.q("BEGIN; SET TRANSACTION READ ONLY");
    assert_eq!(h.q("SELECT v FROM t"), ["old"]);
    h.q("COMMIT");
    // Switching back to READ WRITE before the first query drops the follower timestamp.
    h.q("BEGIN READ ONLY; SET TRANSACTION READ WRITE");
    assert_eq!(h.q("SELECT v FROM t"), ["new"]);
    h.q("UPDATE t SET v = 'newer'");
    h.q("COMMIT");
    // An explicit AS OF SYSTEM TIME wins. (Now T + 5 s: follower time is just after T.)
    h.advance_ms(2_000);
    h.q("BEGIN AS OF SYSTEM TIME '-1s'");
    assert_eq!(h.q("SELECT v FROM t"), ["newer"]);
    h.q("COMMIT");
    // A read-only session: every transaction, implicit ones included.
    h.q("SET default_transaction_read_only = on");
    assert_eq!(h.q("SELECT v FROM t"), ["new"]);
    h.q("BEGIN");
    assert_eq!(h.q("SELECT v FROM t"), ["new"]);
    h.q("COMMIT");
    h.q("SET default_transaction_use_follower_reads = off");
    assert_eq!(h.q("SELECT v FROM t"), ["newer"]);
}
