//! Where an entity receives what its transport delivers: frames, and word that a peer's
//! session was reset.

use super::{decode, frame, EntityName, Envelope};
use bytes::Bytes;
use tokio::sync::mpsc;

/// One item a transport puts in an inbox.
#[derive(Debug)]
pub enum Delivery {
    /// A frame not yet checked.
    Frame(Bytes),
    /// A frame whose header and checksum the transport has checked already.
    Checked(Bytes),
    /// A checked frame from a client, holding its share of the budget for client messages
    /// (handed on to the message).
    Throttled(Bytes, crate::Throttle),
    /// The session with this peer was reset: the peer restarted, or the transport gave up on
    /// it. Frames sent to it but not acknowledged may be lost, and it may have lost our state
    /// (subscriptions, watches): whoever depends on the peer sends again.
    Reset(EntityName),
}

/// What [`Inbox::next`] returns (moved straight out to its user; boxing the message would
/// cost an allocation per message for no gain).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Event {
    Msg(Envelope),
    Reset(EntityName),
}

enum Rx {
    Unbounded(mpsc::UnboundedReceiver<Delivery>),
    Bounded(mpsc::Receiver<Delivery>),
}

/// Where an entity receives its frames.
pub struct Inbox {
    rx: Rx,
}

impl Inbox {
    pub fn unbounded(rx: mpsc::UnboundedReceiver<Delivery>) -> Self {
        Inbox {
            rx: Rx::Unbounded(rx),
        }
    }

    pub fn bounded(rx: mpsc::Receiver<Delivery>) -> Self {
        Inbox {
            rx: Rx::Bounded(rx),
        }
    }

    async fn raw(&mut self) -> Option<Delivery> {
        match &mut self.rx {
            Rx::Unbounded(rx) => rx.recv().await,
            Rx::Bounded(rx) => rx.recv().await,
        }
    }

    /// The next well-formed message or session reset; malformed frames are logged and
    /// skipped. `None` once the entity is unregistered and its queue drained.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            let decoded = match self.raw().await? {
                Delivery::Reset(peer) => return Some(Event::Reset(peer)),
                Delivery::Frame(f) => decode(&f),
                Delivery::Checked(f) => decode_checked(&f),
                Delivery::Throttled(f, t) => decode_checked(&f).map(|mut env| {
                    env.throttle = Some(t);
                    env
                }),
            };
            match decoded {
                Ok(env) => return Some(Event::Msg(env)),
                Err(e) => tracing::warn!(target: "msg", "dropping frame: {e}"),
            }
        }
    }

    /// The next well-formed message, passing over session resets (for entities that keep no
    /// state about their peers).
    pub async fn recv(&mut self) -> Option<Envelope> {
        loop {
            if let Event::Msg(env) = self.next().await? {
                return Some(env);
            }
        }
    }
}

/// Decodes a frame whose header and checksum were checked when it was read.
fn decode_checked(f: &Bytes) -> Result<Envelope, super::MsgError> {
    let (header, body) = frame::split_checked(f)?;
    super::decode_body(header, &body)
}
