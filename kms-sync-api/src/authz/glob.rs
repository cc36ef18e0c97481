//! `$glob` on secret paths: `*` and `?` stay inside one path segment, `**` crosses
//! segments, and `/a/**` also matches `/a` itself (as the KMS's glob matcher does).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Segment,
    /// `**`: any run of characters.
    Any,
}

fn tokens(pattern: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                Token::Any
            }
            '*' => Token::Segment,
            '?' => Token::One,
            other => Token::Literal(other),
        });
    }
    out
}

/// Whether `text` matches `pattern` (dynamic programming: linear in each's length, no
/// backtracking blow-up).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    if let Some(parent) = pattern.strip_suffix("/**") {
        if !parent.contains(['*', '?']) && text == parent {
            return true;
        }
    }
    let pattern = tokens(pattern);
    let text: Vec<char> = text.chars().collect();
    // row[j]: whether the pattern so far matches text[..j].
    let mut row = vec![false; text.len() + 1];
    row[0] = true;
    for token in &pattern {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match token {
                Token::Any => row[j] || (j > 0 && next[j - 1]),
                Token::Segment => row[j] || (j > 0 && text[j - 1] != '/' && next[j - 1]),
                Token::One => j > 0 && text[j - 1] != '/' && row[j - 1],
                Token::Literal(c) => j > 0 && text[j - 1] == *c && row[j - 1],
            };
        }
        row = next;
    }
    row[text.len()]
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_match_as_the_kms_does() {
        let yes = [
            ("/app/*", "/app/db"),
            ("/app/**", "/app"),
            ("/app/**", "/app/db/main"),
            ("/**", "/"),
            ("/**", "/anything/at/all"),
            ("/a?c", "/abc"),
            ("/", "/"),
            ("*", "dev"),
            ("prod-*", "prod-eu"),
        ];
        for (pattern, text) in yes {
            assert!(glob_match(pattern, text), "{pattern} {text}");
        }
        let no = [
            ("/app/*", "/app/db/main"),
            ("/app/*", "/application"),
            ("/app/**", "/apps"),
            ("/a?c", "/a/c"),
            ("/", "/app"),
            ("prod-*", "staging"),
        ];
        for (pattern, text) in no {
            assert!(!glob_match(pattern, text), "{pattern} {text}");
        }
        let long = format!("/{}", "*a".repeat(200));
        assert!(!glob_match(&long, &format!("/{}/", "a".repeat(1000))));
    }
}
