//! Facts of the `port` subject: one TCP port of one address.

use super::TargetFacts;
use serde::{Deserialize, Serialize};

/// The state of a TCP port after a connect attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    /// The three-way handshake completed.
    Open,
    /// The host answered with a reset (connection refused).
    Closed,
    /// No answer within the timeout, or an ICMP unreachable.
    Filtered,
}

impl PortState {
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
        }
    }
}

/// `port.*`: one scanned TCP port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortFacts {
    pub number: u16,
    pub state: PortState,
    pub open: bool,
    /// Best guess of the service: from the banner when it identifies one, else from the
    /// well-known port table; `unknown` when neither does.
    pub service: String,
    /// How `service` was decided: `banner`, `probe` (answer to our nudge), `scheme` (the URL
    /// target said so) or `port` (the well-known port table only).
    pub service_source: String,
    /// The first bytes the service sent (or answered to the nudge), lossily decoded, capped.
    pub banner: String,
}

impl PortFacts {
    pub(super) fn leaf(&self, field: &str) -> super::LeafLookup<'_> {
        use super::{Leaf, LeafLookup};
        LeafLookup::Found(match field {
            "number" => Leaf::Int(i64::from(self.number)),
            "state" => Leaf::Str(self.state.as_str()),
            "open" => Leaf::Bool(self.open),
            "service" => Leaf::Str(&self.service),
            "service_source" => Leaf::Str(&self.service_source),
            "banner" => Leaf::Str(&self.banner),
            _ => return LeafLookup::Unknown,
        })
    }
}

/// All facts of one `port` subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortSubject {
    pub endpoint: String,
    pub target: TargetFacts,
    pub port: PortFacts,
}
