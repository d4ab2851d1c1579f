//! The Government export by organisation unit (`unit`): one commune, one agency, every unit.
//! The dossiers of [`super::indicators::world`] and e-payment accounts reported for 2026-01:
//! the province 46 %; commune Tam Thanh (05986) 20 %, corrected to 30 % (version 2); Sở Tài
//! chính (000.00.03.H37) 55 %.
//!
//! Live, month 2026-01 (15 Dec 2025 – 14 Jan 2026), electronic results
//! (`gov.records-electronic`): the province 0 of 1 returned (A) = 0 %; Tam Thanh 0 of 1 = 0 %;
//! Sở Tài chính returned nothing: no value. The border targets: Tam Thanh has no gate and an
//! agency is not broken down: no value.

use super::indicators::world;
use super::*;
use tinhso_targets::engine::Registry;
use tinhso_targets::export::{self, Export, Value};
use tinhso_targets::period::Period;

const EPAY: &str = "reported.soc.e-payment-accounts";

async fn report_for(db: &Db, org: &str, value: &str) {
    let c = tinhso_targets::reported::check(
        db,
        &tinhso_targets::reported::NewValue {
            indicator: EPAY.into(),
            period: "2026-01".into(),
            org: org.into(),
            value: value.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tinhso_targets::reported::record(db, &sys(), &c)
        .await
        .unwrap();
}

async fn export_for(db: &Db, unit: Option<&str>) -> Export {
    let units = export::check_unit(db, unit).await.unwrap();
    export::export_units(
        db,
        &Registry::standard(),
        Period::parse("2026-01").unwrap(),
        None,
        &units,
    )
    .await
    .unwrap()
}

fn value<'a>(e: &'a Export, org: &str, target: &str) -> &'a Value {
    e.values
        .iter()
        .find(|v| v.org_unit == org && v.target == target)
        .unwrap_or_else(|| panic!("{org} {target}"))
}

#[tokio::test]
async fn the_export_by_commune_agency_and_every_unit() {
    let t = env().await;
    let db = &t.db;
    world(db).await;
    report_for(db, "province", "46").await;
    report_for(db, "commune:05986", "20").await;
    report_for(db, "commune:05986", "30").await;
    report_for(db, "agency:000.00.03.H37", "55").await;

    // No unit, or `province`: the province, as before (the same document and hash).
    let province = export_for(db, None).await;
    let plain = export::export(
        db,
        &Registry::standard(),
        Period::parse("2026-01").unwrap(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(province.content_sha256, plain.content_sha256);
    assert_eq!(
        export_for(db, Some("province")).await.content_sha256,
        plain.content_sha256
    );
    assert_eq!(province.values.len(), 43);
    let epay = value(&province, "province", "soc.e-payment-accounts-2030");
    assert_eq!((epay.value, epay.version), (Some(46.0), Some(1)));

    // One commune, by its code or as `commune:<code>`.
    let commune = export_for(db, Some("05986")).await;
    assert_eq!(
        export_for(db, Some("commune:05986")).await.content_sha256,
        commune.content_sha256
    );
    assert_eq!(commune.values.len(), 43);
    assert!(commune.values.iter().all(|v| v.org_unit == "commune:05986"));
    let epay = value(&commune, "commune:05986", "soc.e-payment-accounts-2030");
    assert_eq!(
        (epay.value, epay.version, epay.source.as_str()),
        (Some(30.0), Some(2), "reported")
    );
    let records = value(&commune, "commune:05986", "gov.records-electronic");
    assert_eq!(
        (records.numerator, records.denominator, records.value),
        (Some(0.0), Some(1.0), Some(0.0))
    );
    let border = value(&commune, "commune:05986", "border.services-on-one-platform");
    assert_eq!((border.source.as_str(), border.value), ("live", None));
    // Nothing reported for the commune: null, never the province's value.
    let dti = value(&commune, "commune:05986", "overall.dti-top10");
    assert_eq!((dti.value, dti.version), (None, None));

    // One agency.
    let agency = export_for(db, Some("000.00.03.H37")).await;
    assert_eq!(
        export_for(db, Some("agency:000.00.03.H37"))
            .await
            .content_sha256,
        agency.content_sha256
    );
    let epay = value(
        &agency,
        "agency:000.00.03.H37",
        "soc.e-payment-accounts-2030",
    );
    assert_eq!((epay.value, epay.version), (Some(55.0), Some(1)));
    let records = value(&agency, "agency:000.00.03.H37", "gov.records-electronic");
    assert_eq!(
        (records.numerator, records.denominator, records.value),
        (Some(0.0), Some(0.0), None)
    );
    assert_eq!(
        value(
            &agency,
            "agency:000.00.03.H37",
            "border.agencies-on-one-platform"
        )
        .value,
        None
    );

    // Every unit: the province, then every commune with a People's Committee, then every
    // agency of the tree, each with its 43 entries; each unit's part is its own export.
    let all = export_for(db, Some("all")).await;
    let communes = count(
        db,
        "SELECT COUNT(DISTINCT admin_unit_code) FROM agencies WHERE kind = 'ubnd_xa' \
         AND admin_unit_code IS NOT NULL",
    )
    .await;
    let agencies = count(db, "SELECT COUNT(*) FROM agencies").await;
    assert!(communes > 0 && agencies > communes);
    assert_eq!(all.values.len() as i64, 43 * (1 + communes + agencies));
    assert_eq!(all.values[..43], province.values[..]);
    let part = |org: &str| -> Vec<Value> {
        all.values
            .iter()
            .filter(|v| v.org_unit == org)
            .cloned()
            .collect()
    };
    assert_eq!(part("commune:05986"), commune.values);
    assert_eq!(part("agency:000.00.03.H37"), agency.values);
    assert_eq!(
        all.values[43].org_unit.split_once(':').unwrap().0,
        "commune"
    );
    assert_eq!(
        all.values
            .last()
            .unwrap()
            .org_unit
            .split_once(':')
            .unwrap()
            .0,
        "agency"
    );
    assert_eq!(
        all.content_sha256,
        export::content_hash(&all.values).unwrap()
    );

    // Unknown units are refused naming the field.
    for bad in [
        "99999",
        "000.00.99.H37",
        "commune:abc",
        "agency:",
        "xã Tam Thanh",
    ] {
        let e = export::check_unit(db, Some(bad)).await.unwrap_err();
        assert_eq!(
            (e.fields[0].field.as_str(), e.fields[0].code),
            ("unit", "unit_unknown"),
            "{bad}"
        );
        assert!(e.fields[0].message_vi.contains("đơn vị"), "{bad}");
    }
}
