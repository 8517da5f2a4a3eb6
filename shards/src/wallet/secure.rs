//! The secure channel's sessions, kept on the shard that owns their client id (so the
//! per-client cap is one shard's count). A session is pending from the handshake until S_A
//! checks, then open: it keeps the record ciphers and the last seq it accepted. Sans-IO: the
//! caller brings the clock.
//!
//! Session strings are 32 lower-case hex characters: the client id's hash slot (4 digits),
//! which routes a record to this shard without a lookup, then 112 random bits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardhub_core::{key_hash_slot, SLOT_COUNT};
use shardhub_crypto::gm::{ChannelCipher, Confirmation, Direction, Responder};
use shardhub_net::http::Status;
use zeroize::Zeroizing;

use super::error::ApiError;

pub const SESSION_HEX_LEN: usize = 32;

/// A new session string for `client_id`: its slot, then `random` as hex.
pub fn session_string(client_id: &str, random: &[u8; 14]) -> String {
    format!("{:04x}{}", key_hash_slot(client_id.as_bytes()), hex::encode(random))
}

/// The slot a session string names, if it is well-formed.
pub fn session_slot(session: &str) -> Option<u16> {
    if session.len() != SESSION_HEX_LEN || !session.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let slot = u16::from_str_radix(&session[..4], 16).ok()?;
    (slot < SLOT_COUNT).then_some(slot)
}

enum State {
    /// Handshake answered; waiting for S_A. Holds the keys but hands out nothing.
    Pending(Box<Responder>),
    Open {
        cipher: Arc<ChannelCipher>,
        last_seq: u64,
    },
    /// Only while `confirm` runs: the responder is taken out to be consumed.
    Confirming,
}

struct Session {
    client_id: String,
    /// The key the client was registered with at the handshake: a re-keyed or removed client
    /// loses its sessions.
    public_key: String,
    state: State,
    last_used: Instant,
}

/// How long a handshake waits for its confirm step at most: a client confirms at once.
pub const PENDING_IDLE_MAX: Duration = Duration::from_secs(30);

impl Session {
    fn expired(&self, now: Instant, limits: SessionLimits) -> bool {
        let idle = match self.state {
            State::Open { .. } => limits.idle,
            _ => limits.idle.min(PENDING_IDLE_MAX),
        };
        now.saturating_duration_since(self.last_used) > idle
    }
}

/// Bounds, from `[wallet]`.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    pub idle: Duration,
    pub per_client: usize,
}

#[derive(Default)]
pub struct SecureSessions {
    sessions: HashMap<String, Session>,
    /// Sessions per client id, for the cap.
    per_client: HashMap<String, Vec<String>>,
}

/// What an accepted record gives the caller: the request and the cipher to seal the answer.
pub struct OpenedRecord {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub cipher: Arc<ChannelCipher>,
}

impl SecureSessions {
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Stores a handshake's pending session. Pending sessions are capped per client on
    /// their own and evict only each other: a handshake proves nothing (client ids are not
    /// secret), so it must not push out a session whose client proved its key. Returns how
    /// many were evicted.
    pub fn insert(
        &mut self,
        session: String,
        client_id: String,
        public_key: String,
        responder: Box<Responder>,
        now: Instant,
        limits: SessionLimits,
    ) -> usize {
        let evicted = self.evict_beyond(&client_id, limits.per_client, false);
        self.per_client
            .entry(client_id.clone())
            .or_default()
            .push(session.clone());
        self.sessions.insert(
            session,
            Session {
                client_id,
                public_key,
                state: State::Pending(responder),
                last_used: now,
            },
        );
        evicted
    }

    /// Drops the client's least recently used sessions of one kind (pending or open) until
    /// fewer than `max` are left.
    fn evict_beyond(&mut self, client_id: &str, max: usize, open: bool) -> usize {
        let mut evicted = 0;
        loop {
            let Some(ids) = self.per_client.get(client_id) else {
                return evicted;
            };
            let of_kind: Vec<(&String, Instant)> = ids
                .iter()
                .filter_map(|id| self.sessions.get(id).map(|s| (id, s)))
                .filter(|(_, s)| matches!(s.state, State::Open { .. }) == open)
                .map(|(id, s)| (id, s.last_used))
                .collect();
            if of_kind.len() < max {
                return evicted;
            }
            let oldest = of_kind
                .iter()
                .min_by_key(|(_, used)| *used)
                .map(|(id, _)| (*id).clone())
                .expect("at least max >= 1 sessions");
            self.remove(&oldest);
            evicted += 1;
        }
    }

    /// Checks S_A; a wrong one ends the session.
    pub fn confirm(
        &mut self,
        session: &str,
        confirmation: &Confirmation,
        now: Instant,
        limits: SessionLimits,
    ) -> Result<(), ApiError> {
        self.live(session, now, limits)?;
        let entry = self.sessions.get_mut(session).expect("live");
        let responder = match std::mem::replace(&mut entry.state, State::Confirming) {
            State::Pending(responder) => responder,
            open => {
                entry.state = open;
                return Err(ApiError::new(
                    Status::Conflict,
                    "session_already_confirmed",
                    "this session is already confirmed",
                ));
            }
        };
        match responder.confirm(confirmation) {
            Ok(keys) => {
                let client_id = entry.client_id.clone();
                // The client proved its key: now its oldest open sessions make room.
                self.evict_beyond(&client_id, limits.per_client, true);
                let entry = self.sessions.get_mut(session).expect("not open, so not evicted");
                entry.state = State::Open {
                    cipher: Arc::new(ChannelCipher::new(&keys)),
                    last_seq: 0,
                };
                entry.last_used = now;
                Ok(())
            }
            Err(e) => {
                self.remove(session);
                Err(e.into())
            }
        }
    }

    /// Opens record `seq`: refused for an unknown, expired, unconfirmed or re-keyed session,
    /// a seq not above the last accepted, or a bad tag (which does not advance seq).
    pub fn open_record(
        &mut self,
        session: &str,
        seq: u64,
        ct: &[u8],
        now: Instant,
        limits: SessionLimits,
        still_registered: impl FnOnce(&str, &str) -> bool,
    ) -> Result<OpenedRecord, ApiError> {
        self.live(session, now, limits)?;
        let entry = self.sessions.get(session).expect("live");
        if !still_registered(&entry.client_id, &entry.public_key) {
            self.remove(session);
            return Err(ApiError::unknown_session());
        }
        let entry = self.sessions.get_mut(session).expect("live");
        let State::Open { cipher, last_seq } = &mut entry.state else {
            return Err(ApiError::new(
                Status::Conflict,
                "session_not_confirmed",
                "send the confirm step first",
            ));
        };
        if seq <= *last_seq {
            return Err(ApiError::new(
                Status::Conflict,
                "stale_seq",
                format!("seq must be above {}", *last_seq),
            ));
        }
        let plaintext = cipher.open(Direction::ClientToServer, session, seq, ct)?;
        *last_seq = seq;
        entry.last_used = now;
        Ok(OpenedRecord {
            plaintext,
            cipher: cipher.clone(),
        })
    }

    /// Drops every session idle past the bound.
    pub fn sweep(&mut self, now: Instant, limits: SessionLimits) -> usize {
        let expired: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.expired(now, limits))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            self.remove(id);
        }
        expired.len()
    }

    /// The session if it exists and is not idle past the bound (an expired one is removed).
    fn live(&mut self, session: &str, now: Instant, limits: SessionLimits) -> Result<(), ApiError> {
        let expired = match self.sessions.get(session) {
            None => return Err(ApiError::unknown_session()),
            Some(s) => s.expired(now, limits),
        };
        if expired {
            self.remove(session);
            return Err(ApiError::unknown_session());
        }
        Ok(())
    }

    fn remove(&mut self, session: &str) {
        if let Some(s) = self.sessions.remove(session) {
            if let Some(ids) = self.per_client.get_mut(&s.client_id) {
                ids.retain(|id| id != session);
                if ids.is_empty() {
                    self.per_client.remove(&s.client_id);
                }
            }
        }
    }
}
