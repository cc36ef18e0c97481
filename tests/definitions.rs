//! Sync definitions in the KMS's JSON: parsing, refusals that point at the field, and ready
//! syncers for every destination against its fake.

use kms_sync::{ErrorKind, InitialSyncBehavior, SecretSyncDefinition};

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

#[test]
fn the_kms_shapes_parse() -> kms_sync::Result<()> {
    let def = SecretSyncDefinition::from_json(BITBUCKET)?;
    assert_eq!(def.name, "my-bitbucket-sync");
    assert_eq!(
        def.sync_options.initial_sync_behavior,
        InitialSyncBehavior::OverwriteDestination
    );
    assert!(def.is_enabled && !def.auto_sync_enabled());

    let checkly = r#"{"name": "my-checkly-sync", "environment": "dev", "secretPath": "/my-secrets", "isEnabled": true,
        "syncOptions": {"initialSyncBehavior": "overwrite-destination", "autoSyncEnabled": true, "disableSecretDeletion": false},
        "destinationConfig": {"accountId": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "accountName": "Example Company"}}"#;
    assert!(SecretSyncDefinition::from_json(checkly)?.auto_sync_enabled());

    let octopus = r#"{"name": "my-octopus-deploy-sync", "environment": "dev", "secretPath": "/", "isEnabled": true, "isAutoSyncEnabled": true,
        "syncOptions": {"initialSyncBehavior": "overwrite-destination", "disableSecretDeletion": true},
        "destinationConfig": {"spaceId": "Spaces-1", "scope": "project", "projectId": "Projects-123",
                              "scopeValues": {"environments": ["Environments-1"], "roles": ["web-server"], "channels": ["Channels-1"]}}}"#;
    let def = SecretSyncDefinition::from_json(octopus)?;
    assert!(def.auto_sync_enabled());
    assert!(def.sync_options().disable_secret_deletion);
    Ok(())
}

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
    ];
    for (json, expected) in cases {
        let err = SecretSyncDefinition::from_json(&json).expect_err(expected);
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
        build_syncer, AppConnectionDefinition, ErrorKind, Result, SecretSet, SecretSyncDefinition,
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
        let def = SecretSyncDefinition::from_json(super::BITBUCKET)?;
        let connection = format!(
            r#"{{"name": "c", "method": "api-token", "credentials": {{"email": "{}", "apiToken": "{}"}}}}"#,
            kms_sync_bitbucket::fake::FAKE_EMAIL,
            kms_sync_bitbucket::fake::FAKE_TOKEN
        );
        let syncer = build_syncer(
            &def,
            Some("bitbucket"),
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
        let def = SecretSyncDefinition::from_json(&format!(
            r#"{{"name": "c-sync", "environment": "dev", "secretPath": "/", "destination": "checkly",
                "destinationConfig": {{"accountId": "{}"}}}}"#,
            kms_sync_checkly::fake::ACCOUNT_ID
        ))?;
        let connection = format!(
            r#"{{"method": "api-key", "credentials": {{"apiKey": "{}"}}}}"#,
            kms_sync_checkly::fake::FAKE_API_KEY
        );
        let syncer = build_syncer(
            &def,
            None,
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
        let def = SecretSyncDefinition::from_json(&format!(
            r#"{{"name": "o-sync", "environment": "dev", "secretPath": "/",
                "destinationConfig": {{"spaceId": "Spaces-1", "scope": "project", "projectId": "{project}",
                                       "scopeValues": {{"environments": ["Environments-1"]}}}}}}"#
        ))?;
        let connection = format!(
            r#"{{"method": "api-key", "credentials": {{"instanceUrl": "{}/api/", "apiKey": "{}"}}}}"#,
            fake.base_url(),
            kms_sync_octopus::fake::FAKE_API_KEY
        );
        let syncer = build_syncer(
            &def,
            Some("octopus-deploy"),
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
        let def = SecretSyncDefinition::from_json(super::BITBUCKET)?;
        let settings = kms_sync::http::ClientSettings::new;
        let connection = AppConnectionDefinition::from_json(
            r#"{"method": "api-token", "credentials": {"email": "a@b.c", "apiToken": "t"}}"#,
        )?;
        let err = build_syncer(&def, Some("vault"), &connection, source(), settings())
            .expect_err("unknown");
        assert!(
            err.to_string()
                .contains("unknown destination `vault`; known: bitbucket, checkly, octopus-deploy"),
            "{err}"
        );
        let err = build_syncer(&def, None, &connection, source(), settings()).expect_err("unnamed");
        assert!(err.to_string().contains("name the destination"), "{err}");
        let bad = SecretSyncDefinition::from_json(
            &super::BITBUCKET.replace("repositorySlug", "repoSlug"),
        )?;
        let err = build_syncer(&bad, Some("bitbucket"), &connection, source(), settings())
            .expect_err("bad config");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string().contains(
                "destinationConfig: invalid Bitbucket destinationConfig: unknown field `repoSlug`"
            ),
            "{err}"
        );
        Ok(())
    }
}
