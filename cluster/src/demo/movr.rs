//! The `movr` sample data set: a ride-sharing company's users, vehicles, rides and promo
//! codes, after CockroachDB's demo. It is generated deterministically (a fixed-seed linear
//! congruential generator), so every demo shows the same rows. Cities lie in the three
//! regions of `demo --global` ([`city_region`]), so the multi-region demo can home each row
//! in its city's region.

/// Number of users loaded.
pub const DEMO_USERS: usize = 100;
/// Number of vehicles loaded.
pub const DEMO_VEHICLES: usize = 50;
/// Number of rides loaded.
pub const DEMO_RIDES: usize = 500;
/// Number of promo codes loaded.
pub const DEMO_PROMO_CODES: usize = 20;
/// Rows per INSERT statement while loading.
const INSERT_BATCH_ROWS: usize = 50;

/// Every city of the data set with the region of `demo --global` it lies in.
pub const CITIES: [(&str, &str); 9] = [
    ("new york", "us-east1"),
    ("boston", "us-east1"),
    ("washington dc", "us-east1"),
    ("seattle", "us-west1"),
    ("san francisco", "us-west1"),
    ("los angeles", "us-west1"),
    ("amsterdam", "europe-west1"),
    ("paris", "europe-west1"),
    ("rome", "europe-west1"),
];

/// The region of `demo --global` a city lies in (None for a city not in the data set).
pub fn city_region(city: &str) -> Option<&'static str> {
    CITIES.iter().find(|(c, _)| *c == city).map(|(_, r)| *r)
}

fn city_names() -> Vec<&'static str> {
    CITIES.iter().map(|(c, _)| *c).collect()
}
const FIRST: [&str; 10] = [
    "Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jo",
];
const LAST: [&str; 8] = [
    "Smith", "Garcia", "Nguyen", "Okafor", "Kowalski", "Rossi", "Kim", "Silva",
];
const STREETS: [&str; 6] = [
    "Main St",
    "Oak Ave",
    "Pine St",
    "Elm St",
    "Lake Rd",
    "Hill Blvd",
];
const VEHICLE_TYPES: [&str; 3] = ["scooter", "bike", "skateboard"];
const STATUSES: [&str; 3] = ["available", "in_use", "lost"];

/// The schema, created in database `movr`.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE users (
        id INT PRIMARY KEY,
        city VARCHAR(40) NOT NULL,
        name TEXT NOT NULL,
        address TEXT,
        credit_card TEXT
    )",
    "CREATE TABLE vehicles (
        id INT PRIMARY KEY,
        city VARCHAR(40) NOT NULL,
        type TEXT NOT NULL,
        owner_id INT NOT NULL,
        creation_time TIMESTAMP NOT NULL,
        status TEXT NOT NULL DEFAULT 'available',
        current_location TEXT
    )",
    "CREATE INDEX vehicles_city_status_idx ON vehicles (city, status)",
    "CREATE TABLE rides (
        id INT PRIMARY KEY,
        city VARCHAR(40) NOT NULL,
        vehicle_id INT NOT NULL,
        rider_id INT NOT NULL,
        start_address TEXT,
        end_address TEXT,
        start_time TIMESTAMP NOT NULL,
        end_time TIMESTAMP,
        revenue DECIMAL(10,2)
    )",
    "CREATE INDEX rides_rider_idx ON rides (rider_id)",
    "CREATE TABLE promo_codes (
        code TEXT PRIMARY KEY,
        description TEXT,
        creation_time TIMESTAMP NOT NULL,
        expiration_time TIMESTAMP,
        percent_off INT NOT NULL
    )",
];

/// A fixed-seed generator: the demo data is the same every time.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.next(xs.len())]
    }
}

/// The INSERT statements that load the data set, in dependency order.
pub fn data_statements() -> Vec<String> {
    let mut rng = Lcg(20_250_101);
    let cities = city_names();
    let mut stmts = Vec::new();
    let users: Vec<String> = (1..=DEMO_USERS)
        .map(|id| {
            let (city, f, l) = (rng.pick(&cities), rng.pick(&FIRST), rng.pick(&LAST));
            let addr = format!("{} {}", 1 + rng.next(9999), rng.pick(&STREETS));
            let card = format!("{:04}", rng.next(10_000));
            format!("({id}, '{city}', '{f} {l}', '{addr}', '{card}')")
        })
        .collect();
    push_batches(
        &mut stmts,
        "users (id, city, name, address, credit_card)",
        &users,
    );
    let vehicles: Vec<String> = (1..=DEMO_VEHICLES)
        .map(|id| {
            let (city, ty, status) =
                (rng.pick(&cities), rng.pick(&VEHICLE_TYPES), rng.pick(&STATUSES));
            let owner = 1 + rng.next(DEMO_USERS);
            let day = 1 + rng.next(28);
            let loc = format!("{} {}", 1 + rng.next(9999), rng.pick(&STREETS));
            format!(
                "({id}, '{city}', '{ty}', {owner}, '2025-01-{day:02} 08:00:00', '{status}', '{loc}')"
            )
        })
        .collect();
    let cols = "vehicles (id, city, type, owner_id, creation_time, status, current_location)";
    push_batches(&mut stmts, cols, &vehicles);
    let rides: Vec<String> = (1..=DEMO_RIDES)
        .map(|id| {
            let city = rng.pick(&cities);
            let (vehicle, rider) = (1 + rng.next(DEMO_VEHICLES), 1 + rng.next(DEMO_USERS));
            let from = format!("{} {}", 1 + rng.next(9999), rng.pick(&STREETS));
            let to = format!("{} {}", 1 + rng.next(9999), rng.pick(&STREETS));
            let (day, hour, mins) = (1 + rng.next(28), rng.next(23), 5 + rng.next(50));
            let cents = 200 + rng.next(9800);
            format!(
                "({id}, '{city}', {vehicle}, {rider}, '{from}', '{to}', \
                 '2025-02-{day:02} {hour:02}:00:00', '2025-02-{day:02} {hour:02}:{mins:02}:00', \
                 {}.{:02})",
                cents / 100,
                cents % 100
            )
        })
        .collect();
    let cols = "rides (id, city, vehicle_id, rider_id, start_address, end_address, start_time, \
                end_time, revenue)";
    push_batches(&mut stmts, cols, &rides);
    const WORDS: [&str; 5] = ["spring", "ride", "weekend", "student", "night"];
    let promos: Vec<String> = (1..=DEMO_PROMO_CODES)
        .map(|i| {
            let word = rng.pick(&WORDS);
            let pct = 5 * (1 + rng.next(10));
            let month = 1 + rng.next(12);
            format!(
                "('{word}_{i:02}', '{pct}% off a {word} ride', '2025-{month:02}-01 00:00:00', \
                 '2026-{month:02}-01 00:00:00', {pct})"
            )
        })
        .collect();
    let cols = "promo_codes (code, description, creation_time, expiration_time, percent_off)";
    push_batches(&mut stmts, cols, &promos);
    stmts
}

fn push_batches(stmts: &mut Vec<String>, target: &str, rows: &[String]) {
    for chunk in rows.chunks(INSERT_BATCH_ROWS) {
        stmts.push(format!("INSERT INTO {target} VALUES {}", chunk.join(", ")));
    }
}
