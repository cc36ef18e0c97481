//! Properties over random sources, destination contents, schemas and destination modes.

use std::collections::BTreeMap;
use std::sync::Arc;

use kms_sync_core::*;
use proptest::prelude::*;

fn affix() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => "[A-Za-z0-9_.-]{1,4}".prop_map(|s| s),
            1 => Just("{{environment}}".to_owned()),
        ],
        0..3,
    )
    .prop_map(|parts| parts.concat())
}

fn template() -> impl Strategy<Value = String> {
    (affix(), affix()).prop_map(|(p, s)| format!("{p}{{{{secretKey}}}}{s}"))
}

proptest! {
    #[test]
    fn strip_inverts_render(template in template(), key in "[A-Za-z_][A-Za-z0-9_]{0,12}", env in "[a-z]{0,6}") {
        let schema = TemplateKeySchema::parse(&template).expect("generated templates are valid");
        let rendered = schema.render(&key, &env);
        prop_assert!(schema.owns(&rendered, &env), "{template} does not own {rendered}");
        prop_assert_eq!(schema.strip(&rendered, &env), Some(key));
    }

    #[test]
    fn arbitrary_templates_never_panic(text in "\\PC{0,40}") {
        // Either a schema that round-trips, or a Config error.
        match TemplateKeySchema::parse(&text) {
            Ok(schema) => {
                let rendered = schema.render("KEY", "env");
                prop_assert_eq!(schema.strip(&rendered, "env"), Some("KEY".to_owned()));
            }
            Err(e) => prop_assert_eq!(e.kind(), ErrorKind::Config),
        }
    }
}

#[derive(Debug, Clone)]
struct World {
    source: BTreeMap<String, String>,
    existing: BTreeMap<String, String>,
    schema: Option<&'static str>,
    readable: bool,
    batch: bool,
    case_insensitive: bool,
}

fn world() -> impl Strategy<Value = World> {
    // A small key alphabet so that source keys, managed keys and foreign keys overlap, and
    // some differ only in case.
    let key = "[ABab][ABCab_]{0,2}";
    let schema = prop_oneof![
        Just(None),
        Just(Some("KMS_{{secretKey}}")),
        Just(Some("{{environment}}_{{secretKey}}")),
        Just(Some("{{secretKey}}_X")),
    ];
    (
        prop::collection::btree_map(key, "[a-z0-9]{1,3}", 0..12),
        prop::collection::btree_map(
            prop_oneof![
                key.prop_map(|k| format!("KMS_{k}")),
                key.prop_map(|k| format!("prod_{k}")),
                key.prop_map(|k| k)
            ],
            "[a-z0-9]{1,3}",
            0..12,
        ),
        schema,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(source, existing, schema, readable, batch, case_insensitive)| World {
                source,
                existing,
                schema,
                readable,
                batch,
                case_insensitive,
            },
        )
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn contents(dest: &MemoryDestination) -> BTreeMap<String, String> {
    dest.contents()
        .expect("contents")
        .into_iter()
        .map(|(k, v)| (k, v.expose_secret().to_owned()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// After a sync the managed keys are exactly the rendered source keys with their values,
    /// unmanaged keys are untouched, and a second sync writes nothing. A refused plan
    /// changes nothing at all.
    #[test]
    fn sync_converges_and_leaves_the_rest_alone(w in world()) {
        let env = "prod";
        let dest = MemoryDestination::builder()
            .readable_values(w.readable)
            .write_mode(if w.batch { WriteMode::Batch } else { WriteMode::PerKey })
            .case_insensitive_keys(w.case_insensitive)
            .page_size(5)
            .build();
        for (k, v) in &w.existing {
            dest.insert(k.clone(), v.clone()).expect("seed");
        }
        let before = contents(&dest);
        let mut set = SecretSet::new(env);
        for (k, v) in &w.source {
            set.insert(k.clone(), v.clone());
        }
        let schema: Box<dyn KeySchema> = match w.schema {
            Some(t) => Box::new(TemplateKeySchema::parse(t).expect("valid")),
            None => Box::new(NoKeySchema),
        };
        let mut builder = Syncer::builder()
            .source(Arc::new(StaticSource::new(set)))
            .destination(Arc::new(dest.clone()))
            .options(SyncOptions::default().with_deletion_guard(DeletionGuard::disabled()))
            .state(Arc::new(MemoryStateStore::default()), Fingerprinter::new(vec![3; 32]).expect("key"));
        if let Some(t) = w.schema {
            builder = builder.key_schema_template(t);
        }
        let syncer = builder.build().expect("syncer");

        match run(syncer.sync()) {
            Err(e) => {
                // Only case collisions may refuse here, and they change nothing.
                prop_assert!(w.case_insensitive, "unexpected refusal: {e}");
                prop_assert_eq!(e.kind(), ErrorKind::InvalidKey);
                prop_assert_eq!(contents(&dest), before);
                prop_assert_eq!(dest.requests().writes(), 0);
            }
            Ok(report) => {
                prop_assert!(report.is_success(), "{}", report);
                let after = contents(&dest);
                let mut expected: BTreeMap<String, String> = before
                    .iter()
                    .filter(|(k, _)| !schema.owns(k, env))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for (k, v) in &w.source {
                    expected.insert(schema.render(k, env), v.clone());
                }
                prop_assert_eq!(&after, &expected);

                let again = run(syncer.plan()).expect("second plan");
                prop_assert!(again.is_empty(), "second plan is not empty:\n{}", again);
            }
        }
    }
}

/// One line of a hostile dotenv file: valid assignments in every quoting style, plus
/// fragments that are not (unclosed quotes, stray `=`, bad names, control characters).
fn dotenv_line() -> impl Strategy<Value = String> {
    prop_oneof![
        ("[A-Z_][A-Z0-9_]{0,8}", "[a-z0-9 ]{0,8}").prop_map(|(k, v)| format!("{k}=zz{v}zz")),
        ("[A-Z_][A-Z0-9_]{0,8}", "[a-z0-9 $]{0,8}").prop_map(|(k, v)| format!("{k}='zz{v}zz'")),
        ("[A-Z_][A-Z0-9_]{0,8}", "[a-z0-9 ]{0,8}")
            .prop_map(|(k, v)| format!("export {k}=\"zz{v}zz\"")),
        "#[^\n]{0,12}".prop_map(|c| c.to_string()),
        "[^\n]{0,16}".prop_map(|junk| format!("{junk}zzjunkzz")),
        Just("UNCLOSED=\"zzopenzz".to_owned()),
        Just("=zznokeyzz".to_owned()),
        Just(String::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Any text: a set of secrets, or a `Source` error that says where — and never echoes a
    /// value or a line (every value and junk fragment is marked with `zz`).
    #[test]
    fn dotenv_never_panics_and_never_echoes(lines in proptest::collection::vec(dotenv_line(), 0..12)) {
        let text = lines.join("\n");
        match DotenvSource::parse_str(&text, "dev") {
            Ok(set) => {
                for (key, _) in set.iter() {
                    prop_assert!(!key.is_empty());
                }
            }
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::Source);
                let shown = format!("{e} {e:?}");
                prop_assert!(!shown.contains("zz"), "the error echoes the input: {}", shown);
                prop_assert!(shown.contains("line"), "the error does not say where: {}", shown);
            }
        }
    }

    /// Assignments in single quotes read back exactly, whatever the value holds.
    #[test]
    fn dotenv_single_quoted_values_round_trip(
        pairs in proptest::collection::btree_map("[A-Z][A-Z0-9_]{0,10}", "[^'\n\r\\\\]{0,20}", 0..10)
    ) {
        let text: String = pairs.iter().map(|(k, v)| format!("{k}='{v}'\n")).collect();
        let set = DotenvSource::parse_str(&text, "dev").expect("valid dotenv");
        let read: BTreeMap<String, String> =
            set.iter().map(|(k, v)| (k.to_owned(), v.expose_secret().to_owned())).collect();
        prop_assert_eq!(read, pairs);
    }

    /// Values holding `$`, `${…}` and the names of variables the process has read back
    /// exactly, unquoted and double-quoted: nothing is ever substituted.
    #[test]
    fn dotenv_dollar_values_are_never_expanded(
        pairs in proptest::collection::btree_map(
            "[A-Z][A-Z0-9_]{0,10}",
            prop_oneof![
                "[a-z0-9$]{0,8}\\$[A-Z_]{1,8}[a-z0-9]{0,4}",
                "[a-z0-9]{0,8}\\$\\{(HOME|PATH|KMS_SYNC_STATE_KEY)\\}[a-z0-9$]{0,4}",
            ],
            0..10,
        ),
        quoted in any::<bool>(),
    ) {
        let text: String = pairs
            .iter()
            .map(|(k, v)| if quoted { format!("{k}=\"{v}\"\n") } else { format!("{k}={v}\n") })
            .collect();
        let set = DotenvSource::parse_str(&text, "dev").expect("valid dotenv");
        let read: BTreeMap<String, String> =
            set.iter().map(|(k, v)| (k.to_owned(), v.expose_secret().to_owned())).collect();
        prop_assert_eq!(read, pairs);
    }

    /// Arbitrary bytes in a dotenv file (invalid UTF-8 included): a clear error or a set,
    /// never a panic.
    #[test]
    fn dotenv_files_of_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join(".env");
        std::fs::write(&path, &bytes).expect("writing the file");
        let source = DotenvSource::new(&path, "dev");
        if let Err(e) = run(source.load()) {
            prop_assert_eq!(e.kind(), ErrorKind::Source);
        }
    }
}
