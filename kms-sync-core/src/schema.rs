//! Key schemas: how a source key becomes a destination key, and which destination keys a
//! sync owns.
//!
//! The KMS's key schema is a handlebars template with exactly one `{{secretKey}}` and an
//! optional `{{environment}}`, e.g. `KMS_{{environment}}_{{secretKey}}`. Destination keys
//! that do not match the schema are never updated or deleted. Without a schema every
//! destination key is managed (the KMS's documented behaviour): see [`NoKeySchema`].

use std::fmt;

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::Path;

use crate::error::{Error, Result};

/// Maps source keys to destination keys and tells which destination keys a sync owns.
///
/// Implementations are pure (no I/O) and must satisfy, for every key `k` and environment
/// `e`: `owns(&render(k, e), e)` and `strip(&render(k, e), e) == Some(k)`.
///
/// ```
/// use kms_sync_core::{KeySchema, TemplateKeySchema};
/// let schema = TemplateKeySchema::parse("KMS_{{environment}}_{{secretKey}}")?;
/// assert_eq!(schema.render("DB_URL", "prod"), "KMS_prod_DB_URL");
/// assert!(schema.owns("KMS_prod_DB_URL", "prod"));
/// assert!(!schema.owns("KMS_dev_DB_URL", "prod"));
/// assert_eq!(schema.strip("KMS_prod_DB_URL", "prod").as_deref(), Some("DB_URL"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub trait KeySchema: Send + Sync + fmt::Debug {
    /// The destination key for a source key in an environment.
    fn render(&self, secret_key: &str, environment: &str) -> String;
    /// Whether a destination key is managed by this schema in an environment.
    fn owns(&self, destination_key: &str, environment: &str) -> bool;
    /// The source key a managed destination key came from; `None` if not owned.
    fn strip(&self, destination_key: &str, environment: &str) -> Option<String>;
    /// A short description for plans and logs, e.g. the template text.
    fn describe(&self) -> String;

    /// Whether every destination key is managed ([`NoKeySchema`]): the plan then warns
    /// about deletes of keys the sync never wrote. Default `false`.
    fn manages_everything(&self) -> bool {
        false
    }
}

/// No key schema: destination keys equal source keys and every destination key is managed.
///
/// This is what the KMS does when a sync has no key schema; deletion then applies to every
/// key at the destination that the source does not have. Prefer a schema where others also
/// write to the destination.
///
/// ```
/// use kms_sync_core::{KeySchema, NoKeySchema};
/// assert_eq!(NoKeySchema.render("A", "dev"), "A");
/// assert!(NoKeySchema.owns("ANYTHING", "dev"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoKeySchema;

impl KeySchema for NoKeySchema {
    fn render(&self, secret_key: &str, _environment: &str) -> String {
        secret_key.to_owned()
    }

    fn owns(&self, destination_key: &str, _environment: &str) -> bool {
        !destination_key.is_empty()
    }

    fn strip(&self, destination_key: &str, _environment: &str) -> Option<String> {
        (!destination_key.is_empty()).then(|| destination_key.to_owned())
    }

    fn describe(&self) -> String {
        "(no key schema: every destination key is managed)".to_owned()
    }

    fn manages_everything(&self) -> bool {
        true
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    SecretKey,
    Environment,
}

/// The KMS's handlebars key schema.
///
/// The template is parsed by the `handlebars` crate and must consist of plain text,
/// exactly one `{{secretKey}}` and any number of `{{environment}}` expressions (`{{{…}}}`
/// is accepted too: escaping is off, so both render alike). Anything else — helpers,
/// blocks, partials, other variables, a second `{{secretKey}}` — is refused at parse time
/// with a [`Config`](crate::ErrorKind::Config) error that says what is wrong. Rendering is
/// strict and never HTML-escapes.
///
/// ```
/// use kms_sync_core::{ErrorKind, TemplateKeySchema};
/// let err = TemplateKeySchema::parse("PREFIX_").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Config);
/// assert!(err.to_string().contains("{{secretKey}}"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TemplateKeySchema {
    source: String,
    segments: Vec<Segment>,
    /// Text before `{{secretKey}}`, when it contains no `{{environment}}`.
    fixed_prefix: Option<String>,
    /// Text after `{{secretKey}}`, when it contains no `{{environment}}`.
    fixed_suffix: Option<String>,
}

impl fmt::Debug for TemplateKeySchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TemplateKeySchema")
            .field(&self.source)
            .finish()
    }
}

impl fmt::Display for TemplateKeySchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn expression_name(helper: &HelperTemplate) -> Option<&str> {
    if !helper.params.is_empty() || !helper.hash.is_empty() || helper.block {
        return None;
    }
    match &helper.name {
        Parameter::Name(name) => Some(name.as_str()),
        Parameter::Path(Path::Relative((_, raw))) => Some(raw.as_str()),
        _ => None,
    }
}

fn describe_element(element: &TemplateElement) -> &'static str {
    match element {
        TemplateElement::HelperBlock(_) => "a block helper such as {{#if}}",
        TemplateElement::DecoratorExpression(_) | TemplateElement::DecoratorBlock(_) => {
            "a decorator"
        }
        TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => "a partial",
        _ => "an expression",
    }
}

/// Line and column (from 1, in characters) of a byte offset.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// What is wrong with a template the handlebars parser refused, in plain words rather than
/// the parser's grammar: an unclosed `{{`, an empty `{{}}`, a block or partial, something that
/// is not a variable name. `None` if none of these explains it.
fn plain_syntax_error(template: &str) -> Option<String> {
    let mut from = 0;
    while let Some(found) = template[from..].find("{{") {
        let start = from + found;
        let (line, column) = line_column(template, start);
        let triple = template[start..].starts_with("{{{");
        let (open, close) = if triple { ("{{{", "}}}") } else { ("{{", "}}") };
        let body_start = start + open.len();
        let Some(length) = template[body_start..].find(close) else {
            return Some(format!(
                "the `{open}` at line {line}, column {column} is never closed with `{close}`"
            ));
        };
        let raw = &template[body_start..body_start + length];
        let inner = raw.trim_matches('~').trim();
        let shown = format!("{open}{raw}{close}");
        if inner.is_empty() {
            return Some(format!(
                "`{shown}` at line {line}, column {column} is empty: write {{{{secretKey}}}} or {{{{environment}}}}"
            ));
        }
        if inner.starts_with(['#', '/', '^', '>', '*']) || inner == "else" {
            return Some(format!(
                "`{shown}` at line {line}, column {column} is a block, partial or decorator: a key schema holds only text, {{{{secretKey}}}} and {{{{environment}}}}"
            ));
        }
        if !inner.starts_with('!')
            && !inner
                .chars()
                .all(|c| c.is_alphanumeric() || " _.@/-".contains(c))
        {
            return Some(format!(
                "`{shown}` at line {line}, column {column} is not a variable: use only {{{{secretKey}}}} and {{{{environment}}}}"
            ));
        }
        from = body_start + length + close.len();
    }
    None
}

impl TemplateKeySchema {
    /// Parses and validates a key schema template.
    ///
    /// # Errors
    ///
    /// A [`Config`](crate::ErrorKind::Config) error naming the problem in plain words (not
    /// the template engine's grammar), with the line and column where it applies: a `{{`
    /// never closed, an empty `{{}}`, no or several `{{secretKey}}`, an unknown variable, a
    /// helper, block, partial or decorator, or an empty template.
    pub fn parse(template: &str) -> Result<Self> {
        let bad = |why: String| Error::config(format!("invalid key schema `{template}`: {why}"));
        if template.trim().is_empty() {
            return Err(bad("the template is empty".to_owned()));
        }
        let compiled = Template::compile(template).map_err(|e| {
            bad(plain_syntax_error(template).unwrap_or_else(|| {
                let at = e
                    .pos()
                    .map(|(line, col)| format!(" near line {line}, column {col}"))
                    .unwrap_or_default();
                format!(
                    "the template is not valid{at}: write text with {{{{secretKey}}}} and {{{{environment}}}}, each `{{{{` closed by `}}}}`"
                )
            }))
        })?;
        let mut segments = Vec::new();
        for element in &compiled.elements {
            match element {
                TemplateElement::RawString(text) => match segments.last_mut() {
                    Some(Segment::Text(previous)) => previous.push_str(text),
                    _ => segments.push(Segment::Text(text.clone())),
                },
                TemplateElement::Comment(_) => {}
                TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
                    match expression_name(helper) {
                        Some("secretKey") => segments.push(Segment::SecretKey),
                        Some("environment") => segments.push(Segment::Environment),
                        Some(other) => {
                            return Err(bad(format!(
                                "unknown variable `{{{{{other}}}}}`: only {{{{secretKey}}}} and {{{{environment}}}} are available"
                            )))
                        }
                        None => {
                            return Err(bad(
                                "helpers and expressions with arguments are not allowed; use only {{secretKey}} and {{environment}}".to_owned(),
                            ))
                        }
                    }
                }
                other => {
                    return Err(bad(format!(
                        "{} is not allowed; use only {{{{secretKey}}}} and {{{{environment}}}}",
                        describe_element(other)
                    )))
                }
            }
        }
        let secret_keys = segments
            .iter()
            .filter(|s| **s == Segment::SecretKey)
            .count();
        if secret_keys != 1 {
            return Err(bad(format!(
                "the template must contain {{{{secretKey}}}} exactly once, found it {secret_keys} times"
            )));
        }
        let at = segments
            .iter()
            .position(|s| *s == Segment::SecretKey)
            .unwrap_or(0);
        let fixed = |part: &[Segment]| -> Option<String> {
            part.iter()
                .map(|s| match s {
                    Segment::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect::<Option<String>>()
        };
        let fixed_prefix = fixed(&segments[..at]);
        let fixed_suffix = fixed(&segments[at + 1..]);
        Ok(TemplateKeySchema {
            source: template.to_owned(),
            segments,
            fixed_prefix,
            fixed_suffix,
        })
    }

    /// The template text as given.
    pub fn template(&self) -> &str {
        &self.source
    }

    /// Whether the template uses `{{environment}}`.
    pub fn uses_environment(&self) -> bool {
        self.segments.contains(&Segment::Environment)
    }

    fn affix(&self, part: &[Segment], environment: &str) -> String {
        let mut out = String::new();
        for segment in part {
            match segment {
                Segment::Text(t) => out.push_str(t),
                Segment::Environment => out.push_str(environment),
                Segment::SecretKey => {}
            }
        }
        out
    }

    fn with_affixes<R>(&self, environment: &str, f: impl FnOnce(&str, &str) -> R) -> R {
        let at = self
            .segments
            .iter()
            .position(|s| *s == Segment::SecretKey)
            .unwrap_or(0);
        match (&self.fixed_prefix, &self.fixed_suffix) {
            (Some(p), Some(s)) => f(p, s),
            (Some(p), None) => f(p, &self.affix(&self.segments[at + 1..], environment)),
            (None, Some(s)) => f(&self.affix(&self.segments[..at], environment), s),
            (None, None) => f(
                &self.affix(&self.segments[..at], environment),
                &self.affix(&self.segments[at + 1..], environment),
            ),
        }
    }
}

impl std::str::FromStr for TemplateKeySchema {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        TemplateKeySchema::parse(s)
    }
}

impl KeySchema for TemplateKeySchema {
    fn render(&self, secret_key: &str, environment: &str) -> String {
        self.with_affixes(environment, |prefix, suffix| {
            let mut out = String::with_capacity(prefix.len() + secret_key.len() + suffix.len());
            out.push_str(prefix);
            out.push_str(secret_key);
            out.push_str(suffix);
            out
        })
    }

    fn owns(&self, destination_key: &str, environment: &str) -> bool {
        self.with_affixes(environment, |prefix, suffix| {
            destination_key.len() > prefix.len() + suffix.len()
                && destination_key.starts_with(prefix)
                && destination_key.ends_with(suffix)
        })
    }

    fn strip(&self, destination_key: &str, environment: &str) -> Option<String> {
        self.with_affixes(environment, |prefix, suffix| {
            if destination_key.len() > prefix.len() + suffix.len()
                && destination_key.starts_with(prefix)
                && destination_key.ends_with(suffix)
            {
                Some(destination_key[prefix.len()..destination_key.len() - suffix.len()].to_owned())
            } else {
                None
            }
        })
    }

    fn describe(&self) -> String {
        self.source.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn handlebars_render(template: &str, key: &str, env: &str) -> String {
        let mut hb = handlebars::Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        hb.render_template(
            template,
            &serde_json::json!({"secretKey": key, "environment": env}),
        )
        .unwrap_or_else(|e| panic!("handlebars failed on {template}: {e}"))
    }

    #[test]
    fn renders_as_handlebars_does() {
        for template in [
            "{{secretKey}}",
            "KMS_{{secretKey}}",
            "{{secretKey}}_SUFFIX",
            "{{environment}}__{{secretKey}}__{{environment}}",
            "A&B<{{{secretKey}}}>",
            "x{{! a comment }}{{secretKey}}",
        ] {
            let schema = TemplateKeySchema::parse(template).expect(template);
            for (key, env) in [("DB", "prod"), ("a&b<c>", "dev&test"), ("K", "")] {
                assert_eq!(
                    schema.render(key, env),
                    handlebars_render(template, key, env),
                    "template {template}"
                );
            }
        }
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let cases = [
            ("", "empty"),
            ("   ", "empty"),
            ("PREFIX", "exactly once, found it 0 times"),
            (
                "{{secretKey}}{{secretKey}}",
                "exactly once, found it 2 times",
            ),
            ("{{secretkey}}", "unknown variable `{{secretkey}}`"),
            (
                "{{project}}_{{secretKey}}",
                "unknown variable `{{project}}`",
            ),
            ("{{#if environment}}x{{/if}}{{secretKey}}", "block helper"),
            ("{{> partial}}{{secretKey}}", "partial"),
            ("{{upper secretKey}}", "helpers"),
            ("{{secretKey", "line 1"),
            (
                "KMS_{{secretKey",
                "the `{{` at line 1, column 5 is never closed with `}}`",
            ),
            (
                "{{secretKey}",
                "the `{{` at line 1, column 1 is never closed with `}}`",
            ),
            (
                "{{{secretKey}}",
                "the `{{{` at line 1, column 1 is never closed with `}}}`",
            ),
            (
                "A_{{secretKey}}\n{{}}",
                "`{{}}` at line 2, column 1 is empty",
            ),
            ("{{#if}}{{secretKey}}", "is a block"),
            ("{{/if}}{{secretKey}}", "is a block"),
            ("{{\"x\"}}{{secretKey}}", "is not a variable"),
        ];
        for (template, expected) in cases {
            let err = TemplateKeySchema::parse(template).expect_err(template);
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(
                err.to_string().contains(expected),
                "{template}: `{err}` should mention `{expected}`"
            );
            // Plain words: never the parser's grammar.
            for grammar in ["expected", "identifier", "tilde", "path_inline"] {
                assert!(
                    !err.to_string().contains(grammar),
                    "{template}: `{err}` speaks the parser's grammar"
                );
            }
        }
    }

    #[test]
    fn owns_and_strips_only_matching_keys() {
        let schema = TemplateKeySchema::parse("{{environment}}_{{secretKey}}_X").expect("valid");
        assert!(schema.owns("prod_A_X", "prod"));
        assert!(
            !schema.owns("prod__X", "prod"),
            "empty source key is not owned"
        );
        assert!(!schema.owns("dev_A_X", "prod"));
        assert!(!schema.owns("prod_A", "prod"));
        assert_eq!(schema.strip("prod_A_B_X", "prod").as_deref(), Some("A_B"));
        assert_eq!(schema.strip("other", "prod"), None);
    }

    #[test]
    fn no_schema_manages_everything() {
        assert!(NoKeySchema.owns("x", "e"));
        assert!(!NoKeySchema.owns("", "e"));
        assert_eq!(NoKeySchema.strip("x", "e").as_deref(), Some("x"));
    }
}
