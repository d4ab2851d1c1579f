//! Plates stored in their canonical form: typed any way, the same vehicle.

use tinhso_border::plate;

#[tokio::test]
async fn a_vehicle_typed_two_ways_is_one_row() {
    let t = crate::env().await;
    for typed in ["12c 123 45", "12C\n123.45", "桂a12345", "桂A.12345"] {
        let p = plate::parse(typed).unwrap();
        sqlx::query(
            "INSERT INTO border_vehicles (plate, country, vehicle_kind, plate_colour, owner_mst, \
             payload_kg, created_at) VALUES ($1, $2, 'truck', 'yellow', NULL, 15000, 1) \
             ON CONFLICT (plate) DO NOTHING",
        )
        .bind(&p.canonical)
        .bind(p.country.as_str())
        .execute(t.db.pool())
        .await
        .unwrap();
    }
    assert_eq!(
        crate::count(&t.db, "SELECT COUNT(*) FROM border_vehicles").await,
        2
    );
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM border_vehicles WHERE plate = $1")
        .bind("桂A·12345")
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    assert_eq!(
        n, 1,
        "the canonical Chinese form round-trips through the database"
    );
}
