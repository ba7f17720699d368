//! What a request needs: the permission of the use case its route serves
//! (`crate::routes`, `crate::ops::use_cases`).
//!
//! A request whose path matches no rule needs `admin` (and unknown paths
//! then answer 404 to admins only), so a route or method added without a
//! rule is closed, not open; `tests/suite/auth.rs` fails until it gets one.
//! Checks that need the request (which run, which pool) are made by the use
//! case (`crate::ops::access`).

use orch_core::auth::Permission;

pub use crate::routes::{RULES, Rule, matches};

/// What a request needs: its use case's permission (HEAD as GET); `admin`
/// when no rule matches.
pub fn permission(method: &str, path: &str) -> Permission {
    crate::routes::find(method, path).map_or(Permission::Admin, Rule::permission)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orch_core::auth::Permission::*;

    #[test]
    fn unknown_paths_need_admin() {
        assert_eq!(permission("GET", "/nowhere"), Admin);
        assert_eq!(permission("HEAD", "/healthz"), Open);
        assert_eq!(permission("POST", "/api/flow-runs/abc/cancel"), Operate);
    }
}
