//! What the fleet and the API say about a kind of destination, declared once by its factory:
//! nothing outside a destination's own crate names a particular service.

/// The facts about one kind of destination that the fleet and the API serve: its display
/// name, which credential fields are not secret, whether it can import, which
/// `destinationConfig` fields are display-only, and the descriptions of its JSON for the
/// OpenAPI document. Returned by [`DestinationFactory::facts`](crate::DestinationFactory::facts).
///
/// Built with `const` methods, so a factory can keep its facts in a `const`:
///
/// ```
/// use kms_sync_core::DestinationFacts;
/// const FACTS: DestinationFacts = DestinationFacts::new("vault", "HashiCorp Vault")
///     .public_credential_fields(&["instanceUrl"])
///     .display_only_config_fields(&["mountName"])
///     .can_import(true)
///     .config_description("`{\"mount\": \"kv\", \"path\": \"app\"}`")
///     .credentials_description("`{\"instanceUrl\": …, \"token\": …}`");
/// assert_eq!(FACTS.display_name(), "HashiCorp Vault");
/// assert!(FACTS.is_public_credential_field("instanceUrl"));
/// assert!(!FACTS.is_public_credential_field("token"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestinationFacts {
    kind: &'static str,
    display_name: &'static str,
    public_credential_fields: &'static [&'static str],
    display_only_config_fields: &'static [&'static str],
    can_import: bool,
    connection_methods: &'static [&'static str],
    config_description: &'static str,
    credentials_description: &'static str,
    write_access: &'static str,
    refusal_help: &'static str,
}

impl DestinationFacts {
    /// Facts with a kind and display name; no public credential field, no display-only
    /// config field, no import, empty descriptions.
    ///
    /// ```
    /// let facts = kms_sync_core::DestinationFacts::new("vault", "Vault");
    /// assert_eq!(facts.kind(), "vault");
    /// assert!(!facts.can_import_secrets());
    /// ```
    pub const fn new(kind: &'static str, display_name: &'static str) -> Self {
        DestinationFacts {
            kind,
            display_name,
            public_credential_fields: &[],
            display_only_config_fields: &[],
            can_import: false,
            connection_methods: &[],
            config_description: "",
            credentials_description: "",
            write_access: "write access at the destination",
            refusal_help: "",
        }
    }

    /// The credential fields that are not secret and may be shown back (the KMS shows
    /// Octopus Deploy's `instanceUrl`, Bitbucket's `email`). Every other field is secret.
    ///
    /// ```
    /// let facts = kms_sync_core::DestinationFacts::new("x", "X").public_credential_fields(&["email"]);
    /// assert_eq!(facts.public_credential_field_names(), ["email"]);
    /// ```
    pub const fn public_credential_fields(mut self, fields: &'static [&'static str]) -> Self {
        self.public_credential_fields = fields;
        self
    }

    /// The `destinationConfig` fields that only name things for display (Checkly's
    /// `groupName`): left out when two syncs are compared for writing the same destination.
    ///
    /// ```
    /// let facts = kms_sync_core::DestinationFacts::new("x", "X").display_only_config_fields(&["groupName"]);
    /// assert!(facts.is_display_only_config_field("groupName"));
    /// ```
    pub const fn display_only_config_fields(mut self, fields: &'static [&'static str]) -> Self {
        self.display_only_config_fields = fields;
        self
    }

    /// Whether syncs to this kind can import secrets from the destination (the KMS's
    /// `canImportSecrets`). Default: false.
    ///
    /// ```
    /// assert!(kms_sync_core::DestinationFacts::new("x", "X").can_import(true).can_import_secrets());
    /// ```
    pub const fn can_import(mut self, can: bool) -> Self {
        self.can_import = can;
        self
    }

    /// The app-connection methods the kind takes (the KMS's `methods`: `api-token`,
    /// `api-key`), listed by `GET /api/v1/app-connections/options`. Default: none.
    ///
    /// ```
    /// let facts = kms_sync_core::DestinationFacts::new("x", "X").connection_methods(&["api-key"]);
    /// assert_eq!(facts.connection_method_names(), ["api-key"]);
    /// ```
    pub const fn connection_methods(mut self, methods: &'static [&'static str]) -> Self {
        self.connection_methods = methods;
        self
    }

    /// A Markdown description of the kind's `destinationConfig`, for the OpenAPI document.
    ///
    /// ```
    /// let facts = kms_sync_core::DestinationFacts::new("x", "X").config_description("`{\"repo\": …}`");
    /// assert_eq!(facts.config_text(), "`{\"repo\": …}`");
    /// ```
    pub const fn config_description(mut self, text: &'static str) -> Self {
        self.config_description = text;
        self
    }

    /// A Markdown description of the kind's connection credentials, for the OpenAPI document.
    ///
    /// ```
    /// let facts = kms_sync_core::DestinationFacts::new("x", "X").credentials_description("`{\"apiKey\": …}`");
    /// assert_eq!(facts.credentials_text(), "`{\"apiKey\": …}`");
    /// ```
    pub const fn credentials_description(mut self, text: &'static str) -> Self {
        self.credentials_description = text;
        self
    }

    /// What a sync needs to write, in words, which a check cannot prove without writing
    /// (`kms-sync validate-connection` prints it). Default: "write access at the destination".
    ///
    /// ```
    /// let facts = kms_sync_core::DestinationFacts::new("x", "X").write_access("the `vars:write` scope");
    /// assert_eq!(facts.write_access_text(), "the `vars:write` scope");
    /// ```
    pub const fn write_access(mut self, text: &'static str) -> Self {
        self.write_access = text;
        self
    }

    /// More help when the service refuses the credentials (which scopes or roles a sync
    /// needs). Default: none.
    ///
    /// ```
    /// let facts = kms_sync_core::DestinationFacts::new("x", "X").refusal_help("a token with `vars:read`");
    /// assert_eq!(facts.refusal_help_text(), Some("a token with `vars:read`"));
    /// assert_eq!(kms_sync_core::DestinationFacts::new("x", "X").refusal_help_text(), None);
    /// ```
    pub const fn refusal_help(mut self, text: &'static str) -> Self {
        self.refusal_help = text;
        self
    }

    /// The kind, as the KMS names it in its URLs.
    ///
    /// ```
    /// assert_eq!(kms_sync_core::DestinationFacts::new("x", "X").kind(), "x");
    /// ```
    pub const fn kind(&self) -> &'static str {
        self.kind
    }

    /// The name people read (`Octopus Deploy`).
    ///
    /// ```
    /// assert_eq!(kms_sync_core::DestinationFacts::new("x", "X").display_name(), "X");
    /// ```
    pub const fn display_name(&self) -> &'static str {
        self.display_name
    }

    /// The credential fields that may be shown back.
    ///
    /// ```
    /// assert!(kms_sync_core::DestinationFacts::new("x", "X").public_credential_field_names().is_empty());
    /// ```
    pub const fn public_credential_field_names(&self) -> &'static [&'static str] {
        self.public_credential_fields
    }

    /// Whether `field` of the credentials may be shown back.
    ///
    /// ```
    /// assert!(!kms_sync_core::DestinationFacts::new("x", "X").is_public_credential_field("apiKey"));
    /// ```
    pub fn is_public_credential_field(&self, field: &str) -> bool {
        self.public_credential_fields.contains(&field)
    }

    /// The display-only `destinationConfig` fields.
    ///
    /// ```
    /// assert!(kms_sync_core::DestinationFacts::new("x", "X").display_only_config_field_names().is_empty());
    /// ```
    pub const fn display_only_config_field_names(&self) -> &'static [&'static str] {
        self.display_only_config_fields
    }

    /// Whether `field` of a `destinationConfig` is display-only.
    ///
    /// ```
    /// assert!(!kms_sync_core::DestinationFacts::new("x", "X").is_display_only_config_field("repo"));
    /// ```
    pub fn is_display_only_config_field(&self, field: &str) -> bool {
        self.display_only_config_fields.contains(&field)
    }

    /// Whether syncs to this kind can import secrets.
    ///
    /// ```
    /// assert!(!kms_sync_core::DestinationFacts::new("x", "X").can_import_secrets());
    /// ```
    pub const fn can_import_secrets(&self) -> bool {
        self.can_import
    }

    /// The app-connection methods the kind takes (may be empty).
    ///
    /// ```
    /// assert!(kms_sync_core::DestinationFacts::new("x", "X").connection_method_names().is_empty());
    /// ```
    pub const fn connection_method_names(&self) -> &'static [&'static str] {
        self.connection_methods
    }

    /// The `destinationConfig` description (may be empty).
    ///
    /// ```
    /// assert_eq!(kms_sync_core::DestinationFacts::new("x", "X").config_text(), "");
    /// ```
    pub const fn config_text(&self) -> &'static str {
        self.config_description
    }

    /// The credentials description (may be empty).
    ///
    /// ```
    /// assert_eq!(kms_sync_core::DestinationFacts::new("x", "X").credentials_text(), "");
    /// ```
    pub const fn credentials_text(&self) -> &'static str {
        self.credentials_description
    }

    /// What a sync needs to write, in words.
    ///
    /// ```
    /// let facts = kms_sync_core::DestinationFacts::new("x", "X");
    /// assert_eq!(facts.write_access_text(), "write access at the destination");
    /// ```
    pub const fn write_access_text(&self) -> &'static str {
        self.write_access
    }

    /// The help for refused credentials, if the kind gives any.
    ///
    /// ```
    /// assert!(kms_sync_core::DestinationFacts::new("x", "X").refusal_help_text().is_none());
    /// ```
    pub const fn refusal_help_text(&self) -> Option<&'static str> {
        if self.refusal_help.is_empty() {
            None
        } else {
            Some(self.refusal_help)
        }
    }
}
