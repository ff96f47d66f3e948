//! Property tests: build → name → parse round trips, and the parser never panics.

use careplan_core::name::NameParts;
use careplan_core::{FileKind, NameShape, OfficeNumber, ServiceType, parse_name};
use proptest::prelude::*;

fn office() -> impl Strategy<Value = OfficeNumber> {
    (
        0u32..48,
        prop::sample::select(vec!['0', '7', '8', '9', 'A']),
        0u32..1_000_000,
    )
        .prop_map(|(pref, kubun, serial)| {
            let first9 = format!("{:02}{}{:06}", pref + 1, kubun, serial);
            OfficeNumber::with_check_digit(&first9).expect("9 chars")
        })
}

fn service() -> impl Strategy<Value = ServiceType> {
    prop::sample::select(vec!["11", "13", "15", "17", "43", "2A", "A1"])
        .prop_map(|s| ServiceType::parse(s).expect("valid"))
}

prop_compose! {
    fn parts()(
        kind in prop::sample::select(FileKind::ALL.to_vec()),
        v4 in any::<bool>(),
        year in 2019i32..2031, month in 1u8..13,
        day in 1u8..29, hour in 0u8..24, min in 0u8..60, sec in 0u8..60,
        from in office(), to in office(), fs in service(), ts in service(),
        branch in 1u16..10000,
    ) -> NameParts {
        let shape = if v4 || kind.v4_only() { NameShape::V4 } else { NameShape::V3 };
        NameParts {
            kind,
            shape,
            month: Some(format!("{year:04}{month:02}")),
            from,
            from_service: Some(fs),
            to,
            to_service: Some(ts),
            serial: format!("{year:04}{month:02}{day:02}{hour:02}{min:02}{sec:02}"),
            branch: Some(format!("{branch:04}")),
        }
    }
}

proptest! {
    #[test]
    fn build_then_parse_round_trips(p in parts()) {
        let name = p.to_name();
        let n = parse_name(&name);
        prop_assert!(n.findings.is_empty(), "{name}: {:?}", n.findings);
        prop_assert_eq!(n.kind, Some(p.kind));
        prop_assert_eq!(n.shape, Some(p.shape));
        prop_assert_eq!(n.from_office.as_ref(), Some(&p.from));
        prop_assert_eq!(n.to_office.as_ref(), Some(&p.to));
        prop_assert_eq!(n.serial.as_deref(), Some(p.serial.as_str()));
        if p.kind.has_month() {
            prop_assert_eq!(n.month.as_deref(), p.month.as_deref());
        }
        if p.shape == NameShape::V4 {
            prop_assert_eq!(n.from_service, p.from_service);
            prop_assert_eq!(n.to_service, p.to_service);
        }
        if p.kind.is_image() {
            prop_assert_eq!(n.branch, p.branch);
        }
        // lower case is read the same
        let lower = parse_name(&name.to_ascii_lowercase());
        prop_assert_eq!(lower.kind, Some(p.kind));
    }

    #[test]
    fn parser_never_panics(s in "\\PC{0,80}") {
        let _ = parse_name(&s);
    }

    #[test]
    fn parser_never_panics_on_name_like_input(s in "(UP|DLT|JP|up)[A-Z0-9_]{0,60}(\\.(CSV|csv|jpg|pdf))?") {
        let _ = parse_name(&s);
    }
}
