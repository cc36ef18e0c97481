//! Octopus's JSON types for the paths kms-sync uses. The variable set is kept as raw JSON so
//! every variable kms-sync does not manage goes back exactly as read, `Id` included.

use serde::Deserialize;

/// A space, from `GET /api/spaces/all`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Space {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub slug: Option<String>,
}

/// A project, from `GET /api/{space}/projects/{idOrSlug}` or `/projects/all`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Project {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub variable_set_id: Option<String>,
    #[serde(default)]
    pub is_version_controlled: bool,
}

/// The signed-in user, from `GET /api/users/me`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    /// The user's id.
    #[serde(default)]
    pub id: Option<String>,
    /// The user's name.
    #[serde(default)]
    pub username: Option<String>,
    /// The display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
    }

    #[test]
    fn the_2016_fixtures_parse() {
        let project: Project =
            serde_json::from_str(&fixture("project-octopus3x-terra-farm.json")).expect("project");
        assert_eq!(
            project.variable_set_id.as_deref(),
            Some("variableset-Projects-501")
        );
        assert!(!project.is_version_controlled);
        let set: Value =
            serde_json::from_str(&fixture("variableset-octopus3x-terra-farm.json")).expect("set");
        assert_eq!(set["Version"], 173);
        assert!(set["Variables"].as_array().is_some_and(|v| v.len() >= 2));
    }
}
