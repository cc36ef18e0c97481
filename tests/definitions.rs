//! Sync definitions in the KMS's JSON: parsing, refusals that point at the field, and ready
//! syncers for every destination against its fake.

use kms_sync::{parse_definition, ErrorKind, InitialSyncBehavior};

const BITBUCKET: &str = r#"{
  "name": "my-bitbucket-sync",
  "projectId": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
  "description": "an example sync",
  "connectionId": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
  "environment": "dev",
  "secretPath": "/my-secrets",
  "isEnabled": true,
  "syncOptions": {"initialSyncBehavior": "overwrite-destination", "keySchema": "KMS_{{secretKey}}"},
  "destinationConfig": {"workspaceSlug": "acme", "repositorySlug": "api"}
}"#;

#[cfg(all(feature = "bitbucket", feature = "checkly", feature = "octopus"))]
#[test]
fn the_kms_shapes_parse() -> kms_sync::Result<()> {
    let def = parse_definition(BITBUCKET, Some("bitbucket"))?;
    assert_eq!(def.name(), "my-bitbucket-sync");
    assert_eq!(
        def.sync_options_definition().initial_sync_behavior,
        InitialSyncBehavior::OverwriteDestination
    );
    // The sample says nothing about auto-sync: the KMS creates syncs with it on.
    assert!(def.is_enabled() && def.auto_sync_enabled());
    assert!(def.sync_options().enabled);
    let disabled = parse_definition(
        &BITBUCKET.replace("\"isEnabled\": true", "\"isEnabled\": false"),
        Some("bitbucket"),
    )?;
    assert!(!disabled.sync_options().enabled);
    let manual = parse_definition(
        &BITBUCKET.replace(
            "\"isEnabled\": true",
            "\"isEnabled\": true, \"isAutoSyncEnabled\": false",
        ),
        Some("bitbucket"),
    )?;
    assert!(!manual.auto_sync_enabled());

    let checkly = r#"{"name": "my-checkly-sync", "environment": "dev", "secretPath": "/my-secrets", "isEnabled": true,
        "syncOptions": {"initialSyncBehavior": "overwrite-destination", "autoSyncEnabled": true, "disableSecretDeletion": false},
        "destinationConfig": {"accountId": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "accountName": "Example Company"}}"#;
    assert!(parse_definition(checkly, Some("checkly"))?.auto_sync_enabled());

    let octopus = r#"{"name": "my-octopus-deploy-sync", "environment": "dev", "secretPath": "/", "isEnabled": true, "isAutoSyncEnabled": true,
        "syncOptions": {"initialSyncBehavior": "overwrite-destination", "disableSecretDeletion": true},
        "destinationConfig": {"spaceId": "Spaces-1", "scope": "project", "projectId": "Projects-123",
                              "scopeValues": {"environments": ["Environments-1"], "roles": ["web-server"], "channels": ["Channels-1"]}}}"#;
    // `octopus` is an alias of the KMS's `octopus-deploy`.
    let def = parse_definition(octopus, Some("octopus"))?;
    assert_eq!(def.destination(), "octopus-deploy");
    assert!(def.auto_sync_enabled());
    assert!(def.sync_options().disable_secret_deletion);
    Ok(())
}

#[cfg(feature = "bitbucket")]
#[test]
fn refusals_point_at_the_problem() {
    let cases = [
        // The Checkly documentation's sample has a trailing comma.
        ("{\"name\": \"a\", \"environment\": \"dev\", \"secretPath\": \"/\",\n \"destinationConfig\": {},\n}".to_owned(), "trailing comma at line 3"),
        (BITBUCKET.replace("\"isEnabled\"", "\"enabled\""), "unknown field `enabled`"),
        (BITBUCKET.replace("my-bitbucket-sync", "My Sync"), "not slug-friendly"),
        (BITBUCKET.replace("overwrite-destination", "overwrite"), "unknown variant `overwrite`"),
        (BITBUCKET.replace("KMS_{{secretKey}}", "KMS_"), "syncOptions.keySchema"),
        (BITBUCKET.replace("\"environment\": \"dev\",", ""), "missing field `environment`"),
        // The destination's own config is checked when the definition is parsed.
        (
            BITBUCKET.replace("repositorySlug", "repoSlug"),
            "destinationConfig: invalid Bitbucket destinationConfig at `repoSlug`: unknown field `repoSlug`",
        ),
    ];
    for (json, expected) in cases {
        let err = parse_definition(&json, Some("bitbucket")).expect_err(expected);
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string().contains(expected),
            "expected `{expected}` in: {err}"
        );
    }
}

#[test]
fn connection_definitions_check_the_envelope_and_hide_credentials() {
    use kms_sync::AppConnectionDefinition;
    let cases = [
        (
            r#"{"method": "api-key", "credentials": {"apiKey": "k"},}"#,
            "trailing comma",
        ),
        (
            r#"{"method": "api-key", "creds": {"apiKey": "k"}}"#,
            "unknown field `creds`",
        ),
        (
            r#"{"credentials": {"apiKey": "k"}}"#,
            "missing field `method`",
        ),
        (
            r#"{"method": "api-key", "credentials": "hunter2-secret"}"#,
            "must be an object",
        ),
    ];
    // Fields the KMS's own envelope has are accepted as it accepts them.
    let kms = r#"{"name": "c", "method": "api-key", "credentials": {"apiKey": "k"},
        "isPlatformManagedCredentials": false, "gatewayId": "3c90c3cc-0d44-4b50-8888-8dd25736052a"}"#;
    assert!(AppConnectionDefinition::from_json(kms).is_ok());
    for (json, expected) in cases {
        let err = AppConnectionDefinition::from_json(json).expect_err(expected);
        assert!(err.to_string().contains(expected), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[cfg(all(feature = "bitbucket", feature = "checkly", feature = "octopus"))]
mod built {
    use std::sync::Arc;

    use kms_sync::{
        build_syncer, parse_definition, AppConnectionDefinition, ErrorKind, Result, SecretSet,
        StaticSource,
    };
    use kms_sync_testkit::fake_client_settings;

    fn source() -> Arc<StaticSource> {
        Arc::new(StaticSource::new(
            SecretSet::new("dev").with("API_KEY", "k1"),
        ))
    }

    #[tokio::test]
    async fn bitbucket_from_definition_and_connection() -> Result<()> {
        let fake = kms_sync_bitbucket::fake::FakeBitbucket::start().await;
        let def = parse_definition(super::BITBUCKET, Some("bitbucket"))?;
        let connection = format!(
            r#"{{"name": "c", "method": "api-token", "credentials": {{"email": "{}", "apiToken": "{}"}}}}"#,
            kms_sync_bitbucket::fake::FAKE_EMAIL,
            kms_sync_bitbucket::fake::FAKE_TOKEN
        );
        let syncer = build_syncer(
            &def,
            &AppConnectionDefinition::from_json(&connection)?,
            source(),
            fake_client_settings(fake.base_url()),
        )?;
        assert_eq!(syncer.id(), "my-bitbucket-sync");
        assert_eq!(syncer.sync().await?.counts.created, 1);
        assert!(fake
            .variables("acme", "api", None)
            .contains_key("KMS_API_KEY"));
        Ok(())
    }

    #[tokio::test]
    async fn checkly_from_definition_and_connection() -> Result<()> {
        let fake = kms_sync_checkly::fake::FakeChecklyServer::start().await;
        let def = parse_definition(
            &format!(
                r#"{{"name": "c-sync", "environment": "dev", "secretPath": "/", "destination": "checkly",
                "destinationConfig": {{"accountId": "{}"}}}}"#,
                kms_sync_checkly::fake::ACCOUNT_ID
            ),
            None,
        )?;
        let connection = format!(
            r#"{{"method": "api-key", "credentials": {{"apiKey": "{}"}}}}"#,
            kms_sync_checkly::fake::FAKE_API_KEY
        );
        let syncer = build_syncer(
            &def,
            &AppConnectionDefinition::from_json(&connection)?,
            source(),
            fake_client_settings(fake.base_url()),
        )?;
        assert_eq!(syncer.sync().await?.counts.created, 1);
        assert!(fake.variables().contains_key("API_KEY"));
        Ok(())
    }

    #[tokio::test]
    async fn octopus_from_definition_and_connection() -> Result<()> {
        let fake = kms_sync_octopus::fake::FakeOctopus::start().await;
        let (project, set) = fake.add_project("Web", false);
        let def = parse_definition(
            &format!(
                r#"{{"name": "o-sync", "environment": "dev", "secretPath": "/",
                "destinationConfig": {{"spaceId": "Spaces-1", "scope": "project", "projectId": "{project}",
                                       "scopeValues": {{"environments": ["Environments-1"]}}}}}}"#
            ),
            Some("octopus-deploy"),
        )?;
        let connection = format!(
            r#"{{"method": "api-key", "credentials": {{"instanceUrl": "{}/api/", "apiKey": "{}"}}}}"#,
            fake.base_url(),
            kms_sync_octopus::fake::FAKE_API_KEY
        );
        let syncer = build_syncer(
            &def,
            &AppConnectionDefinition::from_json(&connection)?,
            source(),
            kms_sync::http::ClientSettings::new(),
        )?;
        assert_eq!(syncer.sync().await?.counts.created, 1);
        assert!(fake.variables(&set).iter().any(|v| v["Name"] == "API_KEY"));
        Ok(())
    }

    #[test]
    fn unknown_missing_and_misconfigured_destinations_are_clear() -> Result<()> {
        let err = parse_definition(super::BITBUCKET, Some("vault")).expect_err("unknown");
        assert!(
            err.to_string()
                .contains("unknown destination `vault`; known: bitbucket, checkly, octopus-deploy"),
            "{err}"
        );
        let err = parse_definition(super::BITBUCKET, None).expect_err("unnamed");
        assert!(err.to_string().contains("name the destination"), "{err}");
        // A connection for another service is refused when the syncer is built.
        let def = parse_definition(super::BITBUCKET, Some("bitbucket"))?;
        let checkly_connection = AppConnectionDefinition::from_json(
            r#"{"method": "api-key", "credentials": {"apiKey": "k"}}"#,
        )?;
        let err = build_syncer(
            &def,
            &checkly_connection,
            source(),
            kms_sync::http::ClientSettings::new(),
        )
        .expect_err("wrong connection");
        assert_eq!(err.kind(), ErrorKind::Config);
        Ok(())
    }

    #[test]
    fn each_factory_checks_its_connection_before_anything_is_built() -> Result<()> {
        let registry = kms_sync::registry();
        let checkly = AppConnectionDefinition::from_json(
            r#"{"method": "api-key", "credentials": {"apiKey": "hunter2-secret"}}"#,
        )?;
        assert!(registry
            .factory("checkly")?
            .check_connection(&checkly)
            .is_ok());
        for kind in ["bitbucket", "octopus-deploy"] {
            let err = registry
                .factory(kind)?
                .check_connection(&checkly)
                .expect_err("another service's connection");
            assert_eq!(err.kind(), ErrorKind::Config, "{kind}: {err}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        Ok(())
    }

    #[test]
    fn a_third_party_kind_registers_beside_the_built_in_ones() -> Result<()> {
        let registry = kms_sync::registry().with(kms_sync::MemoryFactory);
        let def = kms_sync::SecretSyncDefinition::parse(
            r#"{"name": "mem", "environment": "dev", "secretPath": "/", "destinationConfig": {"target": "t"}}"#,
            Some("memory"),
            &registry,
        )?;
        let connection =
            AppConnectionDefinition::from_json(r#"{"method": "none", "credentials": {}}"#)?;
        let syncer = registry
            .syncer_builder(
                &def,
                &connection,
                source(),
                kms_sync::http::ClientSettings::new(),
            )?
            .build()?;
        assert_eq!(syncer.destination().info().to_string(), "memory:t");
        // The built-in kinds of this build (more with more features), then the third party's.
        let mut want = kms_sync::registry().kinds();
        assert!(
            want.starts_with(&["bitbucket", "checkly", "octopus-deploy"]),
            "{want:?}"
        );
        want.push("memory");
        assert_eq!(registry.kinds(), want);
        Ok(())
    }

    /// The fleet and the API learn everything about a kind from its facts: every built-in
    /// kind names itself for people and says how a connection to it authenticates.
    #[test]
    fn every_built_in_kind_declares_its_facts() {
        let registry = kms_sync::registry();
        for kind in registry.kinds() {
            let facts = registry.factory(kind).map(|f| f.facts());
            let facts = facts.unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(facts.kind(), kind);
            assert_ne!(facts.display_name(), kind, "{kind} has no display name");
            assert!(
                !facts.connection_method_names().is_empty(),
                "{kind}: no connection method"
            );
            assert!(
                !facts.config_text().is_empty(),
                "{kind}: no config description"
            );
            assert!(
                !facts.credentials_text().is_empty(),
                "{kind}: no credentials description"
            );
            assert_ne!(
                facts.write_access_text(),
                kms_sync::DestinationFacts::new(kind, kind).write_access_text(),
                "{kind}: says nothing of what a write needs"
            );
        }
    }
}
