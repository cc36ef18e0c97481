//! 64-bit advisory lock keys from names: the first 8 bytes of a SHA-256, so every process
//! and every version of kms-sync derives the same key from the same name.

use sha2::{Digest, Sha256};

/// The advisory lock key of `name` within `space` (scope locks, migrations).
pub(crate) fn advisory_key(space: &str, name: &str) -> i64 {
    let mut hash = Sha256::new();
    hash.update((space.len() as u64).to_be_bytes());
    hash.update(space.as_bytes());
    hash.update(name.as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The two halves `pg_locks` shows for a `bigint` advisory key: `classid`, `objid`.
pub(crate) fn halves(key: i64) -> (i64, i64) {
    let bits = key as u64;
    ((bits >> 32) as i64, (bits & 0xffff_ffff) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_spaced() {
        let a = advisory_key("scope", "svc:group:7");
        assert_eq!(a, advisory_key("scope", "svc:group:7"));
        assert_ne!(a, advisory_key("scope", "svc:group:8"));
        assert_ne!(advisory_key("ab", "c"), advisory_key("a", "bc"));
        // Pinned: a change would let two versions of kms-sync hold one scope at once.
        assert_eq!(advisory_key("x", "y"), 0x26f7_b8f9_3e7d_9969);
    }

    #[test]
    fn halves_match_pg_locks() {
        assert_eq!(halves(-1), (0xffff_ffff, 0xffff_ffff));
        assert_eq!(halves(0x0000_0001_0000_0002), (1, 2));
    }
}
