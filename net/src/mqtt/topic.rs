//! Topic names and topic filters (MQTT 5.0 section 4.7, shared subscriptions 4.8.2): the
//! syntax only. Matching and the subscription tree live in the broker.
//!
//! The decoder applies [`validate_topic_name`] to PUBLISH and Will topics, because a bad
//! topic name breaks the packet. Topic filters are left to the caller: MQTT 5.0 answers a
//! bad filter with reason 0x8F for that filter in the SUBACK, not by closing the connection.

/// Why a topic name or filter is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Topic names and filters are at least one character long ([MQTT-4.7.3-1]).
    #[error("empty")]
    Empty,
    /// Topic names never contain `+` or `#` ([MQTT-3.3.2-2]).
    #[error("a topic name contains a wildcard")]
    Wildcard,
    #[error("contains U+0000")]
    NullCharacter,
    /// `#` stands alone in the last level ([MQTT-4.7.1-1]).
    #[error("'#' is not alone in the last level")]
    MultiLevelMisplaced,
    /// `+` occupies a whole level ([MQTT-4.7.1-2]).
    #[error("'+' does not occupy a whole level")]
    SingleLevelMisplaced,
    /// `$share//filter` ([MQTT-4.8.2-1]).
    #[error("empty share name")]
    ShareNameEmpty,
    /// The share name contains `+` or `#` ([MQTT-4.8.2-2]).
    #[error("share name contains a wildcard")]
    ShareNameWildcard,
    /// `$share/group` with no topic filter after it.
    #[error("shared subscription without a topic filter")]
    ShareFilterMissing,
}

/// The prefix that makes a topic filter a shared subscription.
pub const SHARE_PREFIX: &str = "$share/";

/// A topic filter split into its share name, if any, and the filter proper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedFilter<'a> {
    /// `group` of `$share/group/a/b`.
    pub share_name: Option<&'a str>,
    /// `a/b` of `$share/group/a/b`, or the whole filter when it is not shared.
    pub filter: &'a str,
}

/// A topic name a PUBLISH may carry: non-empty, no wildcards, no U+0000.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::Empty);
    }
    for byte in name.bytes() {
        match byte {
            b'+' | b'#' => return Err(TopicError::Wildcard),
            0 => return Err(TopicError::NullCharacter),
            _ => {}
        }
    }
    Ok(())
}

/// The level syntax of a topic filter, without giving `$share/` a meaning.
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    if filter.is_empty() {
        return Err(TopicError::Empty);
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let is_last = levels.peek().is_none();
        for byte in level.bytes() {
            match byte {
                b'#' if level.len() != 1 || !is_last => return Err(TopicError::MultiLevelMisplaced),
                b'+' if level.len() != 1 => return Err(TopicError::SingleLevelMisplaced),
                0 => return Err(TopicError::NullCharacter),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Validates a topic filter and splits off the share name of `$share/{name}/{filter}`.
pub fn parse_topic_filter(filter: &str) -> Result<ParsedFilter<'_>, TopicError> {
    let Some(shared) = filter.strip_prefix(SHARE_PREFIX) else {
        validate_topic_filter(filter)?;
        return Ok(ParsedFilter {
            share_name: None,
            filter,
        });
    };
    let Some((name, inner)) = shared.split_once('/') else {
        return Err(if shared.is_empty() {
            TopicError::ShareNameEmpty
        } else {
            TopicError::ShareFilterMissing
        });
    };
    if name.is_empty() {
        return Err(TopicError::ShareNameEmpty);
    }
    if name.contains(['+', '#']) {
        return Err(TopicError::ShareNameWildcard);
    }
    if inner.is_empty() {
        return Err(TopicError::ShareFilterMissing);
    }
    validate_topic_filter(inner)?;
    Ok(ParsedFilter {
        share_name: Some(name),
        filter: inner,
    })
}

/// Whether a filter names a shared subscription; cheaper than [`parse_topic_filter`] where
/// only that matters (No Local on a shared subscription is a protocol error).
pub fn is_shared(filter: &str) -> bool {
    filter.starts_with(SHARE_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        for ok in ["a", "/", "a/b", "//", "$SYS/x", " ", "水/ü"] {
            assert_eq!(validate_topic_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
        assert_eq!(validate_topic_name("a/+"), Err(TopicError::Wildcard));
        assert_eq!(validate_topic_name("#"), Err(TopicError::Wildcard));
        assert_eq!(validate_topic_name("a/b#"), Err(TopicError::Wildcard));
        assert_eq!(validate_topic_name("a\0"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn topic_filters_from_the_spec() {
        // MQTT 5.0 sections 4.7.1.2 and 4.7.1.3.
        for ok in [
            "#",
            "sport/#",
            "sport/tennis/#",
            "+",
            "+/tennis/#",
            "sport/+/player1",
            "/+",
            "+/+",
            "a//b",
            "/",
        ] {
            assert_eq!(validate_topic_filter(ok), Ok(()), "{ok}");
        }
        assert_eq!(validate_topic_filter(""), Err(TopicError::Empty));
        assert_eq!(
            validate_topic_filter("sport/tennis#"),
            Err(TopicError::MultiLevelMisplaced)
        );
        assert_eq!(
            validate_topic_filter("sport/tennis/#/ranking"),
            Err(TopicError::MultiLevelMisplaced)
        );
        assert_eq!(validate_topic_filter("##"), Err(TopicError::MultiLevelMisplaced));
        assert_eq!(validate_topic_filter("sport+"), Err(TopicError::SingleLevelMisplaced));
        assert_eq!(validate_topic_filter("a/++/b"), Err(TopicError::SingleLevelMisplaced));
        assert_eq!(validate_topic_filter("a\0"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn shared_subscriptions() {
        assert_eq!(
            parse_topic_filter("$share/consumer1/sport/tennis/+"),
            Ok(ParsedFilter {
                share_name: Some("consumer1"),
                filter: "sport/tennis/+"
            })
        );
        assert_eq!(
            parse_topic_filter("$share/g/#"),
            Ok(ParsedFilter {
                share_name: Some("g"),
                filter: "#"
            })
        );
        assert_eq!(
            parse_topic_filter("$share/g//"),
            Ok(ParsedFilter {
                share_name: Some("g"),
                filter: "/"
            })
        );
        assert_eq!(
            parse_topic_filter("a/#"),
            Ok(ParsedFilter {
                share_name: None,
                filter: "a/#"
            })
        );
        // Not shared: only "$share/" starts one.
        assert_eq!(
            parse_topic_filter("$share"),
            Ok(ParsedFilter {
                share_name: None,
                filter: "$share"
            })
        );
        assert_eq!(parse_topic_filter("$share/"), Err(TopicError::ShareNameEmpty));
        assert_eq!(parse_topic_filter("$share//a"), Err(TopicError::ShareNameEmpty));
        assert_eq!(parse_topic_filter("$share/g"), Err(TopicError::ShareFilterMissing));
        assert_eq!(parse_topic_filter("$share/g/"), Err(TopicError::ShareFilterMissing));
        assert_eq!(parse_topic_filter("$share/g+/a"), Err(TopicError::ShareNameWildcard));
        assert_eq!(parse_topic_filter("$share/#/a"), Err(TopicError::ShareNameWildcard));
        assert_eq!(parse_topic_filter("$share/g/a#"), Err(TopicError::MultiLevelMisplaced));
        assert!(is_shared("$share/g/a"));
        assert!(!is_shared("$shared/g/a"));
    }
}
