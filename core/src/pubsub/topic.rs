//! Topic names and topic filters, as MQTT 3.1.1 and 5.0 (section 4.7) define them.
//!
//! A topic is split into levels at every `/`; an empty level is a level (`a//b` has three, `/`
//! has two, and the empty string has one). In a filter, `+` matches exactly one level and a
//! final `#` matches the rest, including none at all: `a/#` matches `a` too. A topic whose first
//! level begins with `$` (`$SYS/...`, `$shadow/...`) is never matched by a filter whose first
//! level is `+` or `#`.
//!
//! The codec (net) validates names and filters; these functions still accept anything without
//! panicking, and give odd input a plain meaning: a `#` that is not the last level, and levels
//! such as `a+` or `#b`, are ordinary literal levels.

use crate::error::PubsubError;

/// The single-level wildcard.
pub const SINGLE_LEVEL: &str = "+";
/// The multi-level wildcard (only as the last level of a filter).
pub const MULTI_LEVEL: &str = "#";
/// The prefix of a shared subscription's filter: `$share/{group}/{filter}`.
pub const SHARE_PREFIX: &str = "$share/";

/// Splits off the first level: `"a/b/c"` gives `("a", Some("b/c"))`, `"a"` gives `("a", None)`
/// and `"a/"` gives `("a", Some(""))`. No allocation.
#[inline]
pub fn split_level(s: &str) -> (&str, Option<&str>) {
    match s.find('/') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// The levels of a topic or filter, in order.
#[inline]
pub fn levels(s: &str) -> std::str::Split<'_, char> {
    s.split('/')
}

/// How many levels a topic or filter has (at least one).
#[inline]
pub fn level_count(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'/').count() + 1
}

/// Whether the topic is one of the server's own (`$SYS/...`): wildcards at the first level do
/// not reach it.
#[inline]
pub fn is_dollar_topic(topic: &str) -> bool {
    topic.starts_with('$')
}

/// Whether a (non-shared) filter holds a wildcard level.
pub fn has_wildcard(filter: &str) -> bool {
    let mut levels = levels(filter).peekable();
    while let Some(level) = levels.next() {
        if level == SINGLE_LEVEL || (level == MULTI_LEVEL && levels.peek().is_none()) {
            return true;
        }
    }
    false
}

/// A subscription filter with its shared-subscription group taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedFilter<'a> {
    /// The group of `$share/{group}/{filter}`, or `None` for an ordinary subscription.
    pub group: Option<&'a str>,
    /// The filter that topics are matched against.
    pub filter: &'a str,
}

/// Parses `$share/{group}/{filter}`; any other filter is an ordinary one. A shared filter with
/// an empty group, a group holding a wildcard, or no filter after the group is refused.
pub fn parse_filter(filter: &str) -> Result<ParsedFilter<'_>, PubsubError> {
    let Some(rest) = filter.strip_prefix(SHARE_PREFIX) else {
        return Ok(ParsedFilter { group: None, filter });
    };
    let (group, inner) = split_level(rest);
    let Some(inner) = inner else {
        return Err(PubsubError::BadSharedFilter);
    };
    if group.is_empty() || group.contains(['+', '#']) {
        return Err(PubsubError::BadSharedFilter);
    }
    Ok(ParsedFilter {
        group: Some(group),
        filter: inner,
    })
}

/// Whether `filter` (not a shared one: strip `$share/{group}/` first, see [`parse_filter`])
/// matches the topic name `topic`. Linear in the levels, no allocation. The subscription trie
/// is the fast path for many filters; this is for one filter at a time.
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    let mut filter_levels = levels(filter).peekable();
    let mut topic_levels = levels(topic);
    let mut first = true;
    loop {
        let Some(f) = filter_levels.next() else {
            // The filter is used up: a match only if the topic is too.
            return topic_levels.next().is_none();
        };
        let last = filter_levels.peek().is_none();
        if f == MULTI_LEVEL && last {
            return !(first && is_dollar_topic(topic));
        }
        let Some(t) = topic_levels.next() else {
            return false;
        };
        if f == SINGLE_LEVEL {
            if first && is_dollar_topic(topic) {
                return false;
            }
        } else if f != t {
            return false;
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_levels() {
        assert_eq!(split_level("a/b/c"), ("a", Some("b/c")));
        assert_eq!(split_level("a"), ("a", None));
        assert_eq!(split_level("a/"), ("a", Some("")));
        assert_eq!(split_level(""), ("", None));
        assert_eq!(split_level("/"), ("", Some("")));
        assert_eq!(levels("a//b").collect::<Vec<_>>(), ["a", "", "b"]);
        assert_eq!(level_count(""), 1);
        assert_eq!(level_count("/"), 2);
        assert_eq!(level_count("a//b"), 3);
    }

    /// The examples of MQTT 5.0 sections 4.7.1 and 4.7.2.
    #[test]
    fn spec_examples() {
        let yes = [
            ("sport/tennis/player1/#", "sport/tennis/player1"),
            ("sport/tennis/player1/#", "sport/tennis/player1/ranking"),
            ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"),
            ("sport/#", "sport"),
            ("#", "sport/tennis"),
            ("#", "/"),
            ("sport/tennis/+", "sport/tennis/player1"),
            ("sport/tennis/+", "sport/tennis/player2"),
            ("sport/+", "sport/"),
            ("+/+", "/finance"),
            ("/+", "/finance"),
            ("+", ""),
            ("$SYS/#", "$SYS/broker/clients"),
            ("$SYS/monitor/+", "$SYS/monitor/Clients"),
            ("a//b", "a//b"),
            ("+/#", "a"),
        ];
        for (filter, topic) in yes {
            assert!(filter_matches(filter, topic), "{filter} should match {topic}");
        }
        let no = [
            ("sport/tennis/+", "sport/tennis/player1/ranking"),
            ("sport/+", "sport"),
            ("+", "/finance"),
            ("#", "$SYS/broker"),
            ("+/monitor/Clients", "$SYS/monitor/Clients"),
            ("+", "$SYS"),
            ("a/b", "a"),
            ("a", "a/b"),
            ("a//b", "a/b"),
            ("sport/tennis", "Sport/tennis"),
        ];
        for (filter, topic) in no {
            assert!(!filter_matches(filter, topic), "{filter} should not match {topic}");
        }
    }

    #[test]
    fn odd_input_is_literal() {
        // A `#` that is not last is an ordinary level.
        assert!(filter_matches("a/#/b", "a/#/b"));
        assert!(!filter_matches("a/#/b", "a/x/b"));
        assert!(filter_matches("a+", "a+"));
        assert!(!filter_matches("a+", "ab"));
        assert!(!has_wildcard("a/#/b"));
        assert!(has_wildcard("a/+/b"));
        assert!(has_wildcard("a/#"));
    }

    #[test]
    fn shared_filters() {
        assert_eq!(
            parse_filter("$share/g/a/+"),
            Ok(ParsedFilter {
                group: Some("g"),
                filter: "a/+"
            })
        );
        assert_eq!(
            parse_filter("$share/g/"),
            Ok(ParsedFilter {
                group: Some("g"),
                filter: ""
            })
        );
        assert_eq!(
            parse_filter("a/b"),
            Ok(ParsedFilter {
                group: None,
                filter: "a/b"
            })
        );
        assert_eq!(
            parse_filter("$share"),
            Ok(ParsedFilter {
                group: None,
                filter: "$share"
            })
        );
        assert_eq!(parse_filter("$share/g"), Err(PubsubError::BadSharedFilter));
        assert_eq!(parse_filter("$share//a"), Err(PubsubError::BadSharedFilter));
        assert_eq!(parse_filter("$share/+/a"), Err(PubsubError::BadSharedFilter));
    }
}
