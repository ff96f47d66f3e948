//! Pre-send validation with real MS932 demo files: nothing leaves the PC on errors.

use careplan_client::ClientError;
use careplan_client::send::{Limits, OutgoingFile, SendMode, prepare_send};
use careplan_core::demo::{self, DemoFile};

fn out(files: Vec<DemoFile>) -> Vec<OutgoingFile> {
    files
        .into_iter()
        .map(|f| OutgoingFile {
            name: f.name,
            bytes: f.bytes,
        })
        .collect()
}

fn refusal(e: ClientError) -> careplan_client::Refusal {
    match e {
        ClientError::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_complete_plan_set_to_one_office_is_ready() {
    let offices = demo::demo_offices(1, 3);
    let users = demo::demo_users(1, 3);
    let files = demo::plan_set(&offices[0], &offices[1], "202611", "20261101090000", &users);
    let plan = prepare_send(
        &offices[0].number,
        out(files),
        "11月分です",
        &SendMode::Single { to: None },
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(plan.offices(), vec![offices[1].number.as_str().to_owned()]);
    assert_eq!(plan.groups[0].files.len(), 3);
    assert!(!plan.has_warnings(), "{:?}", plan.warnings);
    assert_eq!(plan.key.len(), 32);
}

#[test]
fn files_of_another_sender_office_are_refused() {
    let offices = demo::demo_offices(2, 3);
    let users = demo::demo_users(2, 2);
    let files = demo::plan_set(&offices[2], &offices[1], "202611", "20261101090000", &users);
    let r = refusal(
        prepare_send(
            &offices[0].number,
            out(files),
            "",
            &SendMode::Single { to: None },
            &Limits::default(),
        )
        .unwrap_err(),
    );
    assert!(
        r.message.contains("送信元") || r.detailed_message().contains("送信元"),
        "{}",
        r.detailed_message()
    );
}

#[test]
fn two_destinations_in_single_mode_point_to_bulk_send() {
    let offices = demo::demo_offices(3, 3);
    let users = demo::demo_users(3, 2);
    let mut files = demo::plan_set(&offices[0], &offices[1], "202611", "20261101090000", &users);
    files.extend(demo::plan_set(
        &offices[0],
        &offices[2],
        "202611",
        "20261101090001",
        &users,
    ));
    let r = refusal(
        prepare_send(
            &offices[0].number,
            out(files),
            "",
            &SendMode::Single { to: None },
            &Limits::default(),
        )
        .unwrap_err(),
    );
    assert_eq!(r.code, "E_SEVERAL_DESTINATIONS");
    assert!(r.message.contains("一括送信"));
}

#[test]
fn bulk_send_to_51_offices_is_refused_with_the_count() {
    let offices = demo::demo_offices(4, 52);
    let users = demo::demo_users(4, 1);
    let mut files = Vec::new();
    for (i, to) in offices[1..].iter().enumerate() {
        let serial = format!("202611010900{:02}", i % 60);
        files.push(demo::plan_delete(
            &offices[0],
            to,
            "202611",
            &serial,
            &users,
        ));
    }
    let r = refusal(
        prepare_send(
            &offices[0].number,
            out(files),
            "",
            &SendMode::Bulk,
            &Limits::default(),
        )
        .unwrap_err(),
    );
    assert_eq!(r.code, "E_TOO_MANY_OFFICES");
    assert!(r.message.contains("51"), "{}", r.message);
}

#[test]
fn bulk_send_leaves_attachments_out_with_a_warning() {
    let offices = demo::demo_offices(5, 3);
    let users = demo::demo_users(5, 2);
    let mut files = out(demo::plan_set(
        &offices[0],
        &offices[1],
        "202611",
        "20261101090000",
        &users,
    ));
    files.extend(out(demo::plan_set(
        &offices[0],
        &offices[2],
        "202611",
        "20261101090001",
        &users,
    )));
    files.push(OutgoingFile {
        name: "説明資料.pdf".into(),
        bytes: demo::tiny_pdf("説明"),
    });
    let plan = prepare_send(
        &offices[0].number,
        files,
        "",
        &SendMode::Bulk,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(plan.groups.len(), 2);
    assert!(plan.has_warnings());
    assert_eq!(plan.not_sent[0].file, "説明資料.pdf");
    assert!(plan.groups.iter().all(|g| g.files.len() == 3));
}

#[test]
fn broken_content_and_unsafe_names_and_long_messages_are_refused() {
    let offices = demo::demo_offices(6, 2);
    let users = demo::demo_users(6, 2);
    let mut files = out(demo::plan_set(
        &offices[0],
        &offices[1],
        "202611",
        "20261101090000",
        &users,
    ));
    files[0].bytes = b"\xff\xfe\x00garbage,,,\r\n".to_vec();
    let r = refusal(
        prepare_send(
            &offices[0].number,
            files,
            &"あ".repeat(201),
            &SendMode::Single { to: None },
            &Limits::default(),
        )
        .unwrap_err(),
    );
    assert_eq!(r.code, "E_VALIDATION");
    let text = r.detailed_message();
    assert!(text.contains("200文字"), "{text}");
    assert!(!r.files.is_empty());

    let r = refusal(
        prepare_send(
            &offices[0].number,
            vec![OutgoingFile {
                name: "../evil.CSV".into(),
                bytes: vec![],
            }],
            "",
            &SendMode::Single {
                to: Some(offices[1].number),
            },
            &Limits::default(),
        )
        .unwrap_err(),
    );
    assert!(
        r.detailed_message().contains("使えません"),
        "{}",
        r.detailed_message()
    );
}

#[test]
fn a_sixth_table_without_seventh_is_a_warning() {
    let offices = demo::demo_offices(7, 2);
    let users = demo::demo_users(7, 2);
    let mut files = demo::plan_set(&offices[0], &offices[1], "202611", "20261101090000", &users);
    files.remove(1); // drop 第7表
    let plan = prepare_send(
        &offices[0].number,
        out(files),
        "",
        &SendMode::Single { to: None },
        &Limits::default(),
    )
    .unwrap();
    assert!(plan.has_warnings());
    let text = plan.warnings_refusal().detailed_message();
    assert!(text.contains("第7表") || text.contains("7表"), "{text}");
}
