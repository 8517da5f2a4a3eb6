//! Which topics a client may use.
//!
//! A device lives in its own namespace, `devices/{client_id}/#` and `$shadow/{client_id}/#`;
//! a service may use any topic and shared subscriptions. A filter is allowed only when every
//! topic it can match is allowed, so `devices/+/x` is refused to a device even though it
//! would also match the device's own topics.

/// What a connection may do, from its token (or `Service` for anonymous loopback clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Device,
    Service,
}

const NAMESPACES: [&str; 2] = ["devices/", "$shadow/"];

/// Whether `client_id` may publish to `topic`.
pub fn may_publish(role: Role, client_id: &str, topic: &str) -> bool {
    role == Role::Service || within_own_namespace(client_id, topic)
}

/// Whether `client_id` may subscribe to `filter` (shared subscriptions included, as given on
/// the wire).
pub fn may_subscribe(role: Role, client_id: &str, filter: &str) -> bool {
    if role == Role::Service {
        return true;
    }
    // `{root}/{id}/#` also matches `{root}/{id}` itself, which is the device's own topic.
    !filter.starts_with("$share/") && within_own_namespace(client_id, filter)
}

/// `topic_or_filter` is `{root}{id}` or `{root}{id}/...`, with no wildcard before the rest.
fn within_own_namespace(client_id: &str, topic_or_filter: &str) -> bool {
    NAMESPACES.iter().any(|root| {
        topic_or_filter
            .strip_prefix(root)
            .and_then(|rest| rest.strip_prefix(client_id))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Whether a client id can own a namespace: no level separators or wildcards, which would
/// let one device's topics reach into another's.
pub fn is_namespace_safe(client_id: &str) -> bool {
    !client_id.is_empty() && !client_id.contains(['/', '+', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_stays_in_its_namespace() {
        let d = Role::Device;
        for ok in ["devices/d1", "devices/d1/t", "devices/d1/a/b", "$shadow/d1/update"] {
            assert!(may_publish(d, "d1", ok), "{ok}");
        }
        for bad in [
            "devices/d2/t",
            "devices/d10/t",
            "devices",
            "other/d1",
            "$shadow/d1x/update",
            "devices/d1x",
        ] {
            assert!(!may_publish(d, "d1", bad), "{bad}");
        }
        for ok in ["devices/d1/#", "devices/d1/+/x", "$shadow/d1/#", "devices/d1"] {
            assert!(may_subscribe(d, "d1", ok), "{ok}");
        }
        for bad in [
            "#",
            "+/d1/#",
            "devices/+/x",
            "devices/#",
            "$share/g/devices/d1/#",
            "$shadow/+/update",
        ] {
            assert!(!may_subscribe(d, "d1", bad), "{bad}");
        }
    }

    #[test]
    fn a_service_may_use_any_topic() {
        assert!(may_publish(Role::Service, "svc", "devices/d2/cmd"));
        assert!(may_subscribe(
            Role::Service,
            "svc",
            "$share/workers/devices/+/telemetry"
        ));
    }

    #[test]
    fn client_ids_that_would_cross_namespaces_are_not_safe() {
        assert!(is_namespace_safe("sensor-17"));
        for bad in ["", "a/b", "a+", "#"] {
            assert!(!is_namespace_safe(bad), "{bad}");
        }
    }
}
