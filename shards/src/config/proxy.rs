//! `[proxy.<listener>]`: whether a listener expects a PROXY protocol header from the L4 load
//! balancer in front of it, and from which source networks. See docs/tls.md.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Listener names, as in `[listen]`.
pub const LISTENERS: [&str; 6] = ["resp", "resps", "http", "https", "mqtt", "mqtts"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    pub resp: ProxyListenerConfig,
    pub resps: ProxyListenerConfig,
    pub http: ProxyListenerConfig,
    pub https: ProxyListenerConfig,
    pub mqtt: ProxyListenerConfig,
    pub mqtts: ProxyListenerConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyListenerConfig {
    /// "off", "v1", "v2" or "any": which header a connection must start with.
    pub mode: String,
    /// Source networks allowed to connect (the balancers), as CIDR ("10.0.0.0/8",
    /// "127.0.0.1/32"); a connection from anywhere else is closed. Required when `mode` is on.
    pub from: Vec<String>,
}

impl Default for ProxyListenerConfig {
    fn default() -> Self {
        ProxyListenerConfig {
            mode: "off".into(),
            from: Vec::new(),
        }
    }
}

impl ProxyConfig {
    pub fn listener(&self, name: &str) -> &ProxyListenerConfig {
        match name {
            "resp" => &self.resp,
            "resps" => &self.resps,
            "http" => &self.http,
            "https" => &self.https,
            "mqtt" => &self.mqtt,
            _ => &self.mqtts,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for name in LISTENERS {
            let l = self.listener(name);
            let bad = |key: &str, value: String, expected: &str| {
                Err(ConfigError::Value {
                    key: format!("proxy.{name}.{key}"),
                    value,
                    expected: expected.into(),
                })
            };
            if !matches!(l.mode.as_str(), "off" | "v1" | "v2" | "any") {
                return bad("mode", format!("{:?}", l.mode), "\"off\", \"v1\", \"v2\" or \"any\"");
            }
            if let Some(net) = l.from.iter().find(|n| n.parse::<IpNet>().is_err()) {
                return bad("from", format!("{net:?}"), "CIDR networks such as \"10.0.0.0/8\"");
            }
            if l.mode != "off" && l.from.is_empty() {
                return bad("from", "[]".into(), "the balancers' networks while mode is on");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_behind_a_balancer_names_its_networks() {
        let mut p = ProxyConfig::default();
        p.validate().unwrap();
        p.mqtt.mode = "v2".into();
        assert!(p.validate().unwrap_err().to_string().contains("proxy.mqtt.from"));
        p.mqtt.from = vec!["10.0.0.0/8".into(), "127.0.0.1/32".into()];
        p.validate().unwrap();
        p.mqtt.from.push("10.0.0.300/8".into());
        assert!(p.validate().unwrap_err().to_string().contains("10.0.0.300"));
        p.mqtt.from.pop();
        p.resp.mode = "v3".into();
        assert!(p.validate().unwrap_err().to_string().contains("proxy.resp.mode"));
    }
}
